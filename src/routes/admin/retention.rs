//! `/admin/projects/{project}/retention`: how long unpromoted releases are
//! kept, and what the next sweep would remove.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::csrf::CsrfForm;
use crate::auth::flash::FlashKind;
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::access::require_admin;
use crate::domain::projects;
use crate::domain::retention::{self, RetentionError};
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::routes::{actor, render_with_status, see_other};
use crate::views::PageCtx;
use crate::views::admin::RetentionPage;

async fn render(
    req: &HttpRequest,
    user: CurrentUser,
    session: &TypedSession,
    pool: &DbPool,
    slug: String,
    typed: Option<(String, String, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let who = actor(req, &user);
    let (project, policy, candidates) = db::run(pool, move |conn| -> Result<_, AppError> {
        require_admin(conn, &who, "manage retention")?;
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
        page: PageCtx::new(
            session,
            Some(user),
            format!("Retention · Pipeline · {}", project.name),
            "admin",
        ),
        project,
        days,
        keep,
        errors,
        candidates,
    };
    render_with_status(&page, status)
}

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    render(&req, user, &session, &pool, path.into_inner(), None).await
}

#[derive(Debug, Deserialize)]
pub struct RetentionForm {
    #[serde(default)]
    retention_days: String,
    #[serde(default)]
    retention_keep: String,
}

pub async fn save(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RetentionForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let who = actor(&req, &user);
    let (s, days, keep) = (
        slug.clone(),
        form.retention_days.clone(),
        form.retention_keep.clone(),
    );
    let outcome = db::run(&pool, move |conn| -> Result<_, AppError> {
        require_admin(conn, &who, "manage retention")?;
        let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
        Ok(retention::set_policy(conn, &who, project.id, &days, &keep))
    })
    .await?;
    match outcome {
        Ok(_) => {
            session.flash(FlashKind::Success, "Retention saved.");
            Ok(see_other(&format!("/admin/projects/{slug}/retention")))
        }
        Err(RetentionError::Invalid(errors)) => {
            render(
                &req,
                user,
                &session,
                &pool,
                slug,
                Some((form.retention_days, form.retention_keep, errors)),
            )
            .await
        }
        Err(RetentionError::Db(err)) => Err(err.into()),
    }
}
