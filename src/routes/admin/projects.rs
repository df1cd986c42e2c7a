//! `/admin/projects`: projects and their pipelines.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::environments::{
    self, Direction, Environment, EnvironmentError, EnvironmentInput,
};
use crate::domain::ids::EnvironmentId;
use crate::domain::projects::{self, Project, ProjectError, ProjectInput};
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::admin::{EnvironmentForm, EnvironmentRow, PipelinePage, ProjectsPage};

pub async fn list(ctx: Ctx) -> Result<ProjectsPage, AppError> {
    let projects = ctx
        .run(move |conn, _actor| -> Result<_, AppError> { Ok(projects::list(conn, None)?) })
        .await?;
    Ok(ProjectsPage {
        page: ctx.page("Projects · Admin", "admin"),
        projects,
        name: String::new(),
        slug: String::new(),
        description: String::new(),
        errors: FieldErrors::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    description: String,
}

pub async fn create_project(
    ctx: Ctx,
    CsrfForm(form): CsrfForm<ProjectForm>,
) -> Result<HttpResponse, AppError> {
    let input = ProjectInput {
        name: form.name.clone(),
        slug: form.slug.clone(),
        description: form.description.clone(),
    };
    let (outcome, all) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = projects::create(conn, actor, &input);
            Ok((outcome, projects::list(conn, None)?))
        })
        .await?;
    match outcome {
        Ok(project) => {
            ctx.flash(
                FlashKind::Success,
                format!(
                    "Project {} created with Development, QA, Staging and Production.",
                    project.name
                ),
            );
            Ok(crate::routes::see_other(&format!(
                "/admin/projects/{}",
                project.slug
            )))
        }
        Err(ProjectError::Invalid(errors)) => {
            let page = ProjectsPage {
                page: ctx.page("Projects · Admin", "admin"),
                projects: all,
                name: form.name,
                slug: form.slug,
                description: form.description,
                errors,
            };
            crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}

fn open_pipeline(
    conn: &mut PgConnection,
    _actor: &Actor,
    slug: &str,
) -> Result<(Project, Vec<Environment>), AppError> {
    let project = projects::find_by_slug(conn, slug)?.ok_or(AppError::NotFound)?;
    let pipeline = environments::list(conn, project.id)?;
    Ok((project, pipeline))
}

fn pipeline_page(
    ctx: &Ctx,
    project: Project,
    pipeline: Vec<Environment>,
    failed: Option<(EnvironmentId, EnvironmentForm)>,
    new_environment: EnvironmentForm,
) -> PipelinePage {
    let count = pipeline.len();
    let rows = pipeline
        .into_iter()
        .enumerate()
        .map(|(i, environment)| {
            let form = match &failed {
                Some((id, form)) if *id == environment.id => form.clone(),
                _ => EnvironmentForm {
                    name: environment.name.clone(),
                    url: environment.url.clone().unwrap_or_default(),
                    trigger: environment.trigger.as_str().to_owned(),
                    errors: FieldErrors::new(),
                },
            };
            EnvironmentRow {
                environment,
                form,
                is_first: i == 0,
                is_last: i + 1 == count,
            }
        })
        .collect();
    PipelinePage {
        page: ctx.page(format!("Pipeline · {}", project.name), "admin"),
        project,
        rows,
        new_environment,
    }
}

pub async fn pipeline(ctx: Ctx, path: web::Path<String>) -> Result<PipelinePage, AppError> {
    let slug = path.into_inner();
    let (project, pipeline) = ctx
        .run(move |conn, actor| open_pipeline(conn, actor, &slug))
        .await?;
    Ok(pipeline_page(
        &ctx,
        project,
        pipeline,
        None,
        EnvironmentForm::default(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct EnvironmentFormData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    trigger: String,
}

impl EnvironmentFormData {
    fn input(&self) -> EnvironmentInput {
        EnvironmentInput {
            name: self.name.clone(),
            url: self.url.clone(),
            trigger: self.trigger.clone(),
        }
    }

    fn kept(self, errors: FieldErrors) -> EnvironmentForm {
        EnvironmentForm {
            name: self.name,
            url: self.url,
            trigger: self.trigger,
            errors,
        }
    }
}

fn pipeline_url(project: &str) -> String {
    format!("/admin/projects/{project}")
}

pub async fn add_environment(
    ctx: Ctx,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<EnvironmentFormData>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let input = form.input();
    let (project, outcome, pipeline) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, _) = open_pipeline(conn, actor, &slug)?;
            let outcome = environments::add(conn, actor, project.id, &input);
            let pipeline = environments::list(conn, project.id)?;
            Ok((project, outcome, pipeline))
        })
        .await?;
    match outcome {
        Ok(environment) => {
            ctx.flash(
                FlashKind::Success,
                format!("{} added to the end of the pipeline.", environment.name),
            );
            Ok(crate::routes::see_other(&pipeline_url(&project.slug)))
        }
        Err(EnvironmentError::Invalid(errors)) => {
            let page = pipeline_page(&ctx, project, pipeline, None, form.kept(errors));
            crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(EnvironmentError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(crate::routes::see_other(&pipeline_url(&project.slug)))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn update_environment(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<EnvironmentFormData>,
) -> Result<HttpResponse, AppError> {
    let (slug, env_slug) = path.into_inner();
    let input = form.input();
    let (project, env_id, outcome, pipeline) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline) = open_pipeline(conn, actor, &slug)?;
            let environment = pipeline
                .iter()
                .find(|e| e.slug == env_slug)
                .ok_or(AppError::NotFound)?;
            let outcome = environments::update(conn, actor, environment, &input);
            let env_id = environment.id;
            let pipeline = environments::list(conn, project.id)?;
            Ok((project, env_id, outcome, pipeline))
        })
        .await?;
    match outcome {
        Ok(environment) => {
            ctx.flash(FlashKind::Success, format!("{} saved.", environment.name));
            Ok(crate::routes::see_other(&pipeline_url(&project.slug)))
        }
        Err(EnvironmentError::Invalid(errors)) => {
            let failed = Some((env_id, form.kept(errors)));
            let page = pipeline_page(&ctx, project, pipeline, failed, EnvironmentForm::default());
            crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(EnvironmentError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(crate::routes::see_other(&pipeline_url(&project.slug)))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    direction: String,
}

/// Runs a change to one environment and answers with a flash and a redirect
/// back to the pipeline page.
async fn change_environment(
    ctx: Ctx,
    path: (String, String),
    change: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, EnvironmentError>
    + Send
    + 'static,
) -> Result<HttpResponse, AppError> {
    let (slug, env_slug) = path;
    let (project, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline) = open_pipeline(conn, actor, &slug)?;
            let environment = pipeline
                .iter()
                .find(|e| e.slug == env_slug)
                .ok_or(AppError::NotFound)?;
            Ok((project, change(conn, actor, environment)))
        })
        .await?;
    match outcome {
        Ok(message) => ctx.flash(FlashKind::Success, message),
        Err(EnvironmentError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(EnvironmentError::Invalid(_)) => {
            ctx.flash(FlashKind::Error, "That change was not valid.");
        }
        Err(other) => return Err(other.into()),
    }
    Ok(crate::routes::see_other(&pipeline_url(&project.slug)))
}

pub async fn move_environment(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Result<HttpResponse, AppError> {
    let direction = match form.direction.as_str() {
        "earlier" => Direction::Earlier,
        "later" => Direction::Later,
        _ => return Err(AppError::BadRequest("Move earlier or later.".to_owned())),
    };
    change_environment(ctx, path.into_inner(), move |conn, actor, env| {
        environments::reorder(conn, actor, env, direction)?;
        Ok(format!(
            "{} moved {}.",
            env.name,
            if direction == Direction::Earlier {
                "earlier"
            } else {
                "later"
            }
        ))
    })
    .await
}

pub async fn remove_environment(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    change_environment(ctx, path.into_inner(), |conn, actor, env| {
        environments::remove(conn, actor, env)?;
        Ok(format!("{} removed from the pipeline.", env.name))
    })
    .await
}
