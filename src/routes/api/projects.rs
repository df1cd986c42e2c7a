//! `GET /api/v1/projects` and `GET /api/v1/projects/{project}`: the projects
//! the token may see, each pipeline in order with what is live where.

use actix_web::{HttpResponse, web};

use super::model::{Project, Stage};
use super::{ApiCtx, ApiError};
use crate::domain::{access, dashboard};
use crate::routes::context::open_project;

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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "projects": body })))
}

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
