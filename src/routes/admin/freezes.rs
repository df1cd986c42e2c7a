//! `/admin/projects/{project}/freezes`: deployment freezes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::freezes::{self, FreezeError, FreezeInput};
use crate::domain::validation::FieldErrors;
use crate::domain::{environments, projects};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::FreezesPage;

async fn render(
    ctx: &Ctx,
    slug: String,
    typed: Option<(FreezeInput, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let (project, pipeline, list) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
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
        page: ctx.page(format!("Freezes · Pipeline · {}", project.name), "admin"),
        project,
        pipeline,
        freezes: list,
        form,
        errors,
    };
    render_with_status(&page, status)
}

pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    render(&ctx, path.into_inner(), None).await
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
    ctx: Ctx,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let input = parse(&fields);
    let (s, typed) = (slug.clone(), input.clone());
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
            let pipeline = environments::list(conn, project.id)?;
            Ok(freezes::add(conn, actor, project.id, &pipeline, &typed))
        })
        .await?;
    match outcome {
        Ok(_) => {
            ctx.flash(
                FlashKind::Success,
                "Freeze added: nothing starts in what it covers while it holds.",
            );
            Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
        }
        Err(FreezeError::Invalid(errors)) => render(&ctx, slug, Some((input, errors))).await,
        Err(FreezeError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn remove(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let s = slug.clone();
    ctx.run(move |conn, actor| -> Result<_, AppError> {
        let project = projects::find_by_slug(conn, &s)?.ok_or(AppError::NotFound)?;
        freezes::remove(conn, actor, project.id, id)?;
        Ok(())
    })
    .await?;
    ctx.flash(FlashKind::Success, "Freeze removed.");
    Ok(see_other(&format!("/admin/projects/{slug}/freezes")))
}
