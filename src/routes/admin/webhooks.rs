//! `/admin/projects/{project}/webhooks`: a project's event subscriptions,
//! each one's deliveries, and sending one again.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::projects;
use crate::domain::rejection::Rejection;
use crate::domain::secrets::SecretBox;
use crate::domain::validation::FieldErrors;
use crate::domain::webhooks::{self, SubscriptionInput};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::{WebhookPage, WebhooksPage};

async fn render(
    ctx: &Ctx,
    slug: String,
    typed: Option<(SubscriptionInput, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let (project, subscriptions) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let subscriptions = webhooks::of_project(conn, project.id)?;
            Ok((project, subscriptions))
        })
        .await?;
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (form, errors) = typed.unwrap_or_default();
    let page = WebhooksPage {
        page: ctx.page(format!("Webhooks · {}", project.name), "admin"),
        project,
        subscriptions,
        form,
        errors,
    };
    render_with_status(&page, status)
}

pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    render(&ctx, path.into_inner(), None).await
}

fn read_form(fields: &[(String, String)]) -> SubscriptionInput {
    let mut input = SubscriptionInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "url" => input.url.clone_from(value),
            "events" => input.events.push(value.clone()),
            "format" => input.format.clone_from(value),
            _ => {}
        }
    }
    input
}

pub async fn add(
    ctx: Ctx,
    path: web::Path<String>,
    secrets: web::Data<SecretBox>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let input = read_form(&fields);
    let typed = input.clone();
    let (slug, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let outcome = webhooks::create(conn, actor, &secrets, project.id, &input);
            Ok((project.slug, outcome))
        })
        .await?;
    match outcome {
        Ok(subscription) => {
            ctx.flash(
                FlashKind::Success,
                "Subscribed: set up the receiver with the signing secret below.",
            );
            Ok(see_other(&format!(
                "/admin/projects/{slug}/webhooks/{}",
                subscription.id
            )))
        }
        Err(Rejection::Invalid(errors)) => render(&ctx, slug, Some((typed, errors))).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn deliveries(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    secrets: web::Data<SecretBox>,
) -> Result<WebhookPage, AppError> {
    let (slug, id) = path.into_inner();
    let (project, subscription, secret, deliveries) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let subscription = webhooks::find(conn, project.id, id)?.ok_or(AppError::NotFound)?;
            let secret = webhooks::secret_of(conn, &secrets, subscription.id)?;
            let deliveries = webhooks::deliveries(conn, subscription.id)?;
            Ok((project, subscription, secret, deliveries))
        })
        .await?;
    Ok(WebhookPage {
        page: ctx.page(format!("Webhook · {}", project.name), "admin"),
        project,
        subscription,
        secret,
        deliveries,
    })
}

pub async fn remove(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let slug = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            webhooks::remove(conn, actor, project.id, id)?;
            Ok(project.slug)
        })
        .await?;
    ctx.flash(FlashKind::Success, "Subscription removed.");
    Ok(see_other(&format!("/admin/projects/{slug}/webhooks")))
}

pub async fn redeliver(
    ctx: Ctx,
    path: web::Path<(String, i64, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, id, delivery) = path.into_inner();
    let slug = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            webhooks::redeliver(conn, actor, project.id, id, delivery)?;
            Ok(project.slug)
        })
        .await?;
    ctx.flash(FlashKind::Success, "Queued to be sent again.");
    Ok(see_other(&format!("/admin/projects/{slug}/webhooks/{id}")))
}
