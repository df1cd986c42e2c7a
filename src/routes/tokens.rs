//! API tokens through the pages: `/account/tokens` for one's own,
//! `/admin/tokens` for every active one and the maximum lifetime, and
//! `/admin/users/{user}/tokens` for a service account's. One panel (list,
//! form, the secret shown once) serves all three.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use diesel::PgConnection;

use super::context::Ctx;
use super::{render_with_status, see_other};
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::rejection::Rejection;
use crate::domain::tokens::{self, NewToken, TokenRow};
use crate::domain::{access, projects, users};
use crate::error::AppError;
use crate::views::tokens::{AccountTokensPage, AdminTokensPage, TokenForm, TokenPanel};

/// Whose tokens a panel shows.
#[derive(Debug, Clone, Copy)]
enum Whose {
    Mine,
    Everyone,
}

/// Reads what the panel shows: the tokens, the projects to narrow to (those
/// the owner may see) and the longest lifetime.
fn panel(
    conn: &mut PgConnection,
    actor: &Actor,
    owner: UserId,
    whose: Whose,
    (create_action, revoke_base): (String, String),
) -> Result<TokenPanel, AppError> {
    let tokens: Vec<TokenRow> = match whose {
        Whose::Mine => tokens::of_user(conn, owner)?,
        Whose::Everyone => tokens::active(conn)?,
    };
    let owner_actor = match users::find(conn, owner)? {
        Some(user) if user.id == actor.user_id.unwrap_or_default() => actor.clone(),
        Some(user) => Actor::user(user.id, user.username, user.is_admin, None),
        None => return Err(AppError::NotFound),
    };
    let visible = access::visible_project_ids(conn, &owner_actor)?;
    let projects = projects::list(conn, visible.as_deref())?
        .into_iter()
        .map(|p| (p.slug, p.name))
        .collect();
    Ok(TokenPanel {
        tokens,
        now: Utc::now(),
        create_action,
        revoke_base,
        show_owner: matches!(whose, Whose::Everyone),
        form: TokenForm::default(),
        projects,
        max_days: tokens::max_lifetime_days(conn)?,
        issued: None,
    })
}

fn read_form(fields: &[(String, String)]) -> NewToken {
    let mut input = NewToken::default();
    for (name, value) in fields {
        match name.as_str() {
            "name" => input.name.clone_from(value),
            "lifetime_days" => input.lifetime_days.clone_from(value),
            "project" => input.project.clone_from(value),
            "roles" => input.roles.push(value.clone()),
            _ => {}
        }
    }
    input
}

/// Makes a token for `owner` and reads the panel to show it on (with the
/// secret, or the form again with its errors).
async fn issue(
    ctx: &Ctx,
    owner: UserId,
    whose: Whose,
    urls: (String, String),
    input: NewToken,
) -> Result<(TokenPanel, bool), AppError> {
    let typed = input.clone();
    let (mut panel, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = tokens::create(conn, actor, owner, &input);
            Ok((panel(conn, actor, owner, whose, urls)?, outcome))
        })
        .await?;
    match outcome {
        Ok(issued) => {
            panel.issued = Some(issued);
            Ok((panel, true))
        }
        Err(Rejection::Invalid(errors)) => {
            panel.form = TokenForm {
                name: typed.name,
                lifetime_days: typed.lifetime_days,
                project: typed.project,
                roles: typed.roles,
                errors,
            };
            Ok((panel, false))
        }
        Err(other) => Err(other.into()),
    }
}

fn account_urls() -> (String, String) {
    ("/account/tokens".to_owned(), "/account/tokens".to_owned())
}

pub async fn mine(ctx: Ctx) -> Result<AccountTokensPage, AppError> {
    let me = ctx.user.id;
    let panel = ctx
        .run(move |conn, actor| panel(conn, actor, me, Whose::Mine, account_urls()))
        .await?;
    Ok(AccountTokensPage {
        page: ctx.page("API tokens · Your account", "account"),
        panel,
    })
}

/// The answer to a creation: the page with the secret shown once (never a
/// redirect, which would have to carry it), or the form with its errors.
fn answer(page: &impl askama::Template, made: bool) -> Result<HttpResponse, AppError> {
    let status = if made {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with_status(page, status)
}

pub async fn create_mine(
    ctx: Ctx,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.user.id;
    let (panel, made) = issue(&ctx, me, Whose::Mine, account_urls(), read_form(&fields)).await?;
    let page = AccountTokensPage {
        page: ctx.page("API tokens · Your account", "account"),
        panel,
    };
    answer(&page, made)
}

/// Revokes a token and goes back to `back` with what happened.
async fn revoke_and_return(ctx: Ctx, token_id: i64, back: &str) -> Result<HttpResponse, AppError> {
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            Ok(tokens::revoke(conn, actor, token_id))
        })
        .await?;
    match outcome {
        Ok(name) => ctx.flash(
            FlashKind::Success,
            format!("Token {name} revoked: it no longer works."),
        ),
        // Someone else's token, or none: the same answer.
        Err(Rejection::NotFound) => ctx.flash(FlashKind::Error, "There is no such token of yours."),
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(back))
}

pub async fn revoke_mine(
    ctx: Ctx,
    path: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    revoke_and_return(ctx, path.into_inner(), "/account/tokens").await
}

fn admin_page(ctx: &Ctx, panel: TokenPanel, max_days_input: String) -> AdminTokensPage {
    AdminTokensPage {
        page: ctx.page("API tokens · Admin", "admin"),
        panel,
        max_days_input,
        errors: crate::domain::validation::FieldErrors::new(),
    }
}

fn admin_urls() -> (String, String) {
    (String::new(), "/admin/tokens".to_owned())
}

pub async fn everyone(ctx: Ctx) -> Result<AdminTokensPage, AppError> {
    let me = ctx.user.id;
    let panel = ctx
        .run(move |conn, actor| panel(conn, actor, me, Whose::Everyone, admin_urls()))
        .await?;
    let max = panel.max_days.to_string();
    Ok(admin_page(&ctx, panel, max))
}

#[derive(Debug, serde::Deserialize)]
pub struct LifetimeForm {
    #[serde(default)]
    max_days: String,
}

pub async fn set_lifetime(
    ctx: Ctx,
    CsrfForm(form): CsrfForm<LifetimeForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.user.id;
    let typed = form.max_days.clone();
    let (outcome, panel) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = tokens::set_max_lifetime_days(conn, actor, &form.max_days);
            Ok((
                outcome,
                panel(conn, actor, me, Whose::Everyone, admin_urls())?,
            ))
        })
        .await?;
    match outcome {
        Ok(days) => {
            ctx.flash(
                FlashKind::Success,
                format!("Tokens made from now on live at most {days} days."),
            );
            Ok(see_other("/admin/tokens"))
        }
        Err(Rejection::Invalid(errors)) => {
            let mut page = admin_page(&ctx, panel, typed);
            page.errors = errors;
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn revoke_any(
    ctx: Ctx,
    path: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    revoke_and_return(ctx, path.into_inner(), "/admin/tokens").await
}

/// The service account's page with its tokens (see `admin::users`).
pub fn service_panel(
    conn: &mut PgConnection,
    actor: &Actor,
    user: &users::User,
) -> Result<Option<TokenPanel>, AppError> {
    if !user.is_service {
        return Ok(None);
    }
    let urls = (
        format!("/admin/users/{}/tokens", user.id),
        format!("/admin/users/{}/tokens", user.id),
    );
    panel(conn, actor, user.id, Whose::Mine, urls).map(Some)
}

/// A token for a service account, made by an admin.
pub async fn create_for_service(
    ctx: Ctx,
    path: web::Path<UserId>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let urls = (
        format!("/admin/users/{user_id}/tokens"),
        format!("/admin/users/{user_id}/tokens"),
    );
    let data = super::admin::users::load_user(&ctx, user_id).await?;
    if !data.is_service() {
        return Err(AppError::Refused(
            "Administrators make tokens for service accounts only: people make their own on their account page."
                .to_owned(),
        ));
    }
    let (panel, made) = issue(&ctx, user_id, Whose::Mine, urls, read_form(&fields)).await?;
    let page = data.page(
        &ctx,
        crate::domain::validation::FieldErrors::new(),
        Some(panel),
    );
    answer(&page, made)
}

pub async fn revoke_for_service(
    ctx: Ctx,
    path: web::Path<(UserId, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (user_id, token_id) = path.into_inner();
    revoke_and_return(ctx, token_id, &format!("/admin/users/{user_id}")).await
}
