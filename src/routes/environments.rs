//! `/projects/{project}/environments/{environment}`: what is live, what is
//! waiting or running, and the history.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::context::open_project;
use crate::auth::csrf::CsrfForm;
use crate::auth::flash::FlashKind;
use crate::domain::access::{self, Action, Role};
use crate::domain::deployments::{self, Cause, DeployError, DeployInput};
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
        .read(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, access) = open_project(conn, actor, &slug)?;
            let position = pipeline
                .iter()
                .position(|e| e.slug == env_slug)
                .ok_or(AppError::NotFound)?;
            let environment = pipeline[position].clone();
            let (active, more_active) = deployments::active_in(conn, environment.id, ACTIVE_SHOWN)?;
            let (history, next) = deployments::history(conn, environment.id, before, HISTORY_PAGE)?;
            let (live, previous) = deployments::live_and_previous(conn, environment.id)?;
            let can_deploy = access.has(environment.id, Role::Deployer);
            Ok((
                project,
                pipeline.len(),
                position,
                environment,
                (live, previous, can_deploy),
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
        (live, previous, can_deploy),
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
        previous,
        can_deploy,
        active,
        more_active,
        history,
        next_page: next.map(|c| format!("before={}", c.encode())),
        is_first_page: before.is_none(),
    })
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    /// The version the page offered: if what is live changed since, the
    /// person is asked to look again rather than given another release.
    #[serde(default)]
    version: String,
}

/// "Roll back to the last good release": deploys again the newest release
/// older than the live one that succeeded here, under the same rules as
/// any deployment (approvals, window, freeze), marked as a rollback.
pub async fn rollback(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<RollbackForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, env_slug) = path.into_inner();
    let page = format!("/projects/{slug}/environments/{env_slug}");
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, held) = open_project(conn, actor, &slug)?;
            let environment = pipeline
                .into_iter()
                .find(|e| e.slug == env_slug)
                .ok_or(AppError::NotFound)?;
            access::enforce(
                conn,
                actor,
                project.id,
                held,
                Action::Deploy {
                    environment_id: environment.id,
                    environment: &environment.name,
                },
            )?;
            let (_, previous) = deployments::live_and_previous(conn, environment.id)?;
            let Some(previous) = previous.filter(|p| p.version == form.version) else {
                return Ok(Err(format!(
                    "What is live in {} changed: look at it again before rolling back.",
                    environment.name
                )));
            };
            let input = DeployInput {
                environment_id: environment.id,
                comment: format!("Roll back to the last good release, {}.", previous.version),
                cause: Cause::Person,
                ..DeployInput::default()
            };
            Ok(
                match deployments::request(conn, actor, previous.release_id, &input) {
                    Ok(d) => Ok(format!(
                        "Rolling back {} to {} ({}).",
                        environment.name,
                        previous.label,
                        if d.status == crate::domain::states::DeploymentStatus::AwaitingApproval {
                            "waiting for approval"
                        } else {
                            "queued"
                        }
                    )),
                    Err(DeployError::Refused(reason) | DeployError::Denied(reason)) => Err(reason),
                    Err(other) => return Err(other.into()),
                },
            )
        })
        .await?;
    match outcome {
        Ok(message) => ctx.flash(FlashKind::Success, message),
        Err(reason) => ctx.flash(FlashKind::Error, reason),
    }
    Ok(crate::routes::see_other(&page))
}
