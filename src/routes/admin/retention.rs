//! `/admin/projects/{project}/retention`: how long unpromoted releases are
//! kept, and what the next sweep would remove.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::csrf::CsrfForm;
use crate::auth::flash::FlashKind;
use crate::domain::projects;
use crate::domain::retention::{self, RetentionError};
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::RetentionPage;

async fn render(
    ctx: &Ctx,
    slug: String,
    typed: Option<(String, String, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let (project, policy, candidates) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let policy = retention::policy(conn, project.id)?;
            let candidates = retention::candidates(conn, project.id, chrono::Utc::now())?;
            Ok((project, policy, candidates))
        })
        .await?;
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (days, keep, errors) = typed.unwrap_or_else(|| {
        (
            policy.days.to_string(),
            policy.keep.to_string(),
            FieldErrors::new(),
        )
    });
    let page = RetentionPage {
        page: ctx.page(format!("Retention · Pipeline · {}", project.name), "admin"),
        project,
        days,
        keep,
        errors,
        candidates,
    };
    render_with_status(&page, status)
}

pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    render(&ctx, path.into_inner(), None).await
}

#[derive(Debug, Deserialize)]
pub struct RetentionForm {
    #[serde(default)]
    retention_days: String,
    #[serde(default)]
    retention_keep: String,
}

pub async fn save(
    ctx: Ctx,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RetentionForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let (s, days, keep) = (
        slug.clone(),
        form.retention_days.clone(),
        form.retention_keep.clone(),
    );
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
            Ok(retention::set_policy(conn, actor, project.id, &days, &keep))
        })
        .await?;
    match outcome {
        Ok(_) => {
            ctx.flash(FlashKind::Success, "Retention saved.");
            Ok(see_other(&format!("/admin/projects/{slug}/retention")))
        }
        Err(RetentionError::Invalid(errors)) => {
            render(
                &ctx,
                slug,
                Some((form.retention_days, form.retention_keep, errors)),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}
