//! `/projects/{project}/environments/{environment}`: what is live, what is
//! waiting or running, and the history.

use actix_web::web;
use serde::Deserialize;

use super::context::open_project;
use crate::domain::deployments;
use crate::domain::keyset::Cursor;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::environments::EnvironmentPage;

const HISTORY_PAGE: i64 = 25;
/// Waiting and running deployments shown, oldest first; the rest are in
/// the history.
const ACTIVE_SHOWN: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
}

pub async fn show(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> Result<EnvironmentPage, AppError> {
    let (slug, env_slug) = path.into_inner();
    let before = query.before.as_deref().and_then(Cursor::decode);
    let result = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, _) = open_project(conn, actor, &slug)?;
            let position = pipeline
                .iter()
                .position(|e| e.slug == env_slug)
                .ok_or(AppError::NotFound)?;
            let environment = pipeline[position].clone();
            let (active, more_active) = deployments::active_in(conn, environment.id, ACTIVE_SHOWN)?;
            let (history, next) = deployments::history(conn, environment.id, before, HISTORY_PAGE)?;
            let live = deployments::last_success_in(conn, environment.id)?;
            Ok((
                project,
                pipeline.len(),
                position,
                environment,
                live,
                (active, more_active),
                history,
                next,
            ))
        })
        .await?;
    let (
        project,
        pipeline_length,
        position,
        environment,
        live,
        (active, more_active),
        history,
        next,
    ) = result;
    Ok(EnvironmentPage {
        page: ctx.page(
            format!("{} · {}", environment.name, project.name),
            "projects",
        ),
        project,
        environment,
        position,
        pipeline_length,
        live,
        active,
        more_active,
        history,
        next_page: next.map(|c| format!("before={}", c.encode())),
        is_first_page: before.is_none(),
    })
}
