//! `GET /api/v1/projects` and `GET /api/v1/projects/{project}`: the projects
//! the token may see, each pipeline in order with what is live where.

use actix_web::{HttpResponse, web};

use super::model::{Project, ProjectList, Stage};
use super::{ApiCtx, ApiError};
use crate::domain::{access, dashboard};
use crate::routes::context::open_project;

/// The projects the token may see
///
/// Each with its pipeline in order and what is live in each environment.
#[utoipa::path(get, path = "/api/v1/projects", operation_id = "listProjects", tag = "projects",
    responses((status = 200, description = "The projects", body = ProjectList)))]
pub async fn list(ctx: ApiCtx) -> Result<HttpResponse, ApiError> {
    let projects = ctx
        .run(|conn, actor| -> Result<_, ApiError> {
            let visible = access::visible_project_ids(conn, actor)?;
            Ok(dashboard::overview(conn, visible.as_deref())?)
        })
        .await?;
    let body: Vec<Project> = projects
        .into_iter()
        .map(|p| Project {
            slug: p.slug,
            name: p.name,
            description: p.description,
            environments: p.stages.into_iter().map(Stage::from).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ProjectList { projects: body }))
}

/// One project
///
/// Its environments in order, what is live and what ran last in each.
#[utoipa::path(get, path = "/api/v1/projects/{project}", operation_id = "getProject", tag = "projects",
    params(super::openapi::ProjectPath),
    responses(
        (status = 200, description = "The project", body = Project),
        (status = 404, description = "No such project, or the token may not see it", body = ApiError),
    ))]
pub async fn show(ctx: ApiCtx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let (project, stages) = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, pipeline, _) = open_project(conn, actor, &slug)?;
            let stages = dashboard::stages(conn, &pipeline)?;
            Ok((project, stages))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Project {
        slug: project.slug,
        name: project.name,
        description: project.description,
        environments: stages.into_iter().map(Stage::from).collect(),
    }))
}
