//! `/projects/{project}`: the pipeline as connected stages, and recent releases.

use std::collections::HashMap;

use actix_web::web;

use super::context::open_project;
use crate::domain::access::Role;
use crate::domain::dashboard::ProjectOverview;
use crate::domain::ids::{EnvironmentId, ReleaseId};
use crate::domain::{audit, dashboard, releases};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::projects::ProjectPage;

/// How many of the project's latest audit events its page shows.
const AUDIT_TRAIL: i64 = 15;

pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<ProjectPage, AppError> {
    let slug = path.into_inner();
    let (project, pipeline, access, overview, recent, events) = ctx
        .read(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, access) = open_project(conn, actor, &slug)?;
            let overview = ProjectOverview {
                slug: project.slug.clone(),
                name: project.name.clone(),
                description: project.description.clone(),
                stages: dashboard::stages(conn, &pipeline)?,
            };
            // What is live, as the stages just read it.
            let live: HashMap<EnvironmentId, ReleaseId> = overview
                .stages
                .iter()
                .filter_map(|stage| Some((stage.id, stage.live.as_ref()?.release_id)))
                .collect();
            let (recent, _) = releases::list(
                conn,
                project.id,
                &pipeline,
                &live,
                &releases::ReleaseQuery::default(),
                10,
            )?;
            let trail = audit::AuditFilter {
                project_id: Some(project.id),
                ..Default::default()
            };
            let (events, _) = audit::search(conn, &trail, AUDIT_TRAIL)?;
            Ok((project, pipeline, access, overview, recent, events))
        })
        .await?;
    let can_create_release = pipeline
        .first()
        .is_some_and(|e| access.has(e.id, Role::Deployer));
    Ok(ProjectPage {
        page: ctx.page(project.name.clone(), "projects"),
        is_admin: access.is_admin(),
        project,
        overview,
        pipeline,
        rows: recent,
        can_create_release,
        audit: events,
    })
}
