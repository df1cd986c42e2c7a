//! `/admin/projects/{project}/freezes`: deployment freezes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::access::require_admin;
use crate::domain::freezes::{self, FreezeError, FreezeInput};
use crate::domain::validation::FieldErrors;
use crate::domain::{environments, projects};
use crate::error::AppError;
use crate::routes::{actor, render_with_status, see_other};
use crate::views::PageCtx;
use crate::views::admin::FreezesPage;

async fn render(
    req: &HttpRequest,
    user: CurrentUser,
    session: &TypedSession,
    pool: &DbPool,
    slug: String,
    typed: Option<(FreezeInput, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let who = actor(req, &user);
    let (project, pipeline, list) = db::run(pool, move |conn| -> Result<_, AppError> {
        require_admin(conn, &who, "manage freezes")?;
        let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
        let pipeline = environments::list(conn, project.id)?;
        let list = freezes::list(conn, project.id)?;
        Ok((project, pipeline, list))
    })
    .await?;
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (form, errors) = typed.unwrap_or_else(|| {
        (
            FreezeInput {
                kind: "once".into(),
                time_zone: "UTC".into(),
                ..Default::default()
            },
            FieldErrors::new(),
        )
    });
    let page = FreezesPage {
        page: PageCtx::new(
            session,
            Some(user),
            format!("Freezes · Pipeline · {}", project.name),
            "admin",
        ),
        project,
        pipeline,
        freezes: list,
        form,
        errors,
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

fn parse(fields: &[(String, String)]) -> FreezeInput {
    let mut input = FreezeInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "environment" => input.environment = value.clone(),
            "reason" => input.reason = value.clone(),
            "kind" => input.kind = value.clone(),
            "starts_at" => input.starts_at = value.clone(),
            "ends_at" => input.ends_at = value.clone(),
            "days" => input.days.push(value.clone()),
            "start_time" => input.start_time = value.clone(),
            "end_time" => input.end_time = value.clone(),
            "time_zone" => input.time_zone = value.clone(),
            _ => {}
        }
    }
    input
}

pub async fn add(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let who = actor(&req, &user);
    let input = parse(&fields);
    let (s, typed) = (slug.clone(), input.clone());
    let outcome = db::run(&pool, move |conn| -> Result<_, AppError> {
        require_admin(conn, &who, "manage freezes")?;
        let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
        let pipeline = environments::list(conn, project.id)?;
        Ok(freezes::add(conn, &who, project.id, &pipeline, &typed))
    })
    .await?;
    match outcome {
        Ok(_) => {
            session.flash(
                FlashKind::Success,
                "Freeze added: nothing starts in what it covers while it holds.",
            );
            Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
        }
        Err(FreezeError::Invalid(errors)) => {
            render(&req, user, &session, &pool, slug, Some((input, errors))).await
        }
        Err(FreezeError::Refused(message)) => {
            session.flash(FlashKind::Error, message);
            Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
        }
        Err(FreezeError::Db(err)) => Err(err.into()),
    }
}

pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
    path: web::Path<(String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let who = actor(&req, &user);
    let s = slug.clone();
    db::run(&pool, move |conn| -> Result<_, AppError> {
        require_admin(conn, &who, "manage freezes")?;
        let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
        freezes::remove(conn, &who, project.id, id)?;
        Ok(())
    })
    .await?;
    session.flash(FlashKind::Success, "Freeze removed.");
    Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
}
