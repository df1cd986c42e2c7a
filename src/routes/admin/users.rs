//! `/admin/users`: create, disable and enable, reset passwords, grant or
//! revoke admin, end sessions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::teams;
use crate::domain::users::{self, AdminChangeError, CreateUserError};
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::{UserPage, UsersPage};

pub async fn list(ctx: Ctx) -> Result<UsersPage, AppError> {
    let all = ctx
        .run(move |conn, _actor| -> Result<_, AppError> { Ok(users::list(conn)?) })
        .await?;
    Ok(UsersPage {
        page: ctx.page("Users · Admin", "admin"),
        users: all,
        username: String::new(),
        display_name: String::new(),
        is_admin: false,
        is_service: false,
        errors: FieldErrors::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    /// A checkbox: present when ticked.
    is_admin: Option<String>,
    /// A checkbox: a service account (no password, tokens only).
    is_service: Option<String>,
}

pub async fn create(
    ctx: Ctx,
    CsrfForm(form): CsrfForm<NewUserForm>,
) -> Result<HttpResponse, AppError> {
    let is_admin = form.is_admin.is_some();
    let is_service = form.is_service.is_some();
    let (username, display_name, password) = (
        form.username.clone(),
        form.display_name.clone(),
        form.password,
    );
    let (outcome, all) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = if is_service && is_admin {
                Err(CreateUserError::Refused(
                    "A service account cannot be an administrator: give it grants instead.",
                ))
            } else if is_service {
                users::create_service(conn, actor, &username, &display_name)
            } else {
                users::create(conn, actor, &username, &display_name, &password, is_admin)
            };
            Ok((outcome, users::list(conn)?))
        })
        .await?;
    let mut errors = FieldErrors::new();
    match outcome {
        Ok(created) => {
            ctx.flash(
                FlashKind::Success,
                format!("User {} created.", created.username),
            );
            return Ok(see_other(&format!("/admin/users/{}", created.id)));
        }
        Err(CreateUserError::Username(problem)) => errors.add("username", problem),
        Err(CreateUserError::UsernameTaken) => errors.add("username", "This username is taken."),
        Err(CreateUserError::DisplayName(problem)) => errors.add("display_name", problem),
        Err(CreateUserError::Password(problem)) => errors.add("password", problem.to_string()),
        Err(CreateUserError::Refused(problem)) => errors.add("is_service", problem),
        Err(CreateUserError::Db(err)) => return Err(err.into()),
        Err(CreateUserError::Hash(err)) => return Err(AppError::Internal(err)),
    }
    let page = UsersPage {
        page: ctx.page("Users · Admin", "admin"),
        users: all,
        username: form.username,
        display_name: form.display_name,
        is_admin,
        is_service,
        errors,
    };
    render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// What a user's page shows.
pub(crate) struct UserData {
    user: users::User,
    teams: Vec<teams::Team>,
    sessions: i64,
    tokens: Option<crate::views::tokens::TokenPanel>,
}

fn load_user_page(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
) -> Result<UserData, AppError> {
    let user = users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
    let teams = teams::of_user(conn, user_id)?;
    let sessions = crate::domain::sessions::open_count(conn, user_id)?;
    let tokens = crate::routes::tokens::service_panel(conn, actor, &user)?;
    Ok(UserData {
        user,
        teams,
        sessions,
        tokens,
    })
}

/// Reads a user's page (404 for no such user).
pub(crate) async fn load_user(ctx: &Ctx, user_id: UserId) -> Result<UserData, AppError> {
    ctx.run(move |conn, actor| load_user_page(conn, actor, user_id))
        .await
        .map_err(AppError::from)
}

impl UserData {
    pub(crate) fn is_service(&self) -> bool {
        self.user.is_service
    }

    /// The page, with `errors` beside the password form and, for a
    /// service account, `tokens` in place of what was read.
    pub(crate) fn page(
        self,
        ctx: &Ctx,
        errors: FieldErrors,
        tokens: Option<crate::views::tokens::TokenPanel>,
    ) -> UserPage {
        UserPage {
            page: ctx.page(format!("{} · Users", self.user.username), "admin"),
            user: self.user,
            teams: self.teams,
            sessions: self.sessions,
            errors,
            tokens: tokens.or(self.tokens),
        }
    }
}

pub async fn show(ctx: Ctx, path: web::Path<UserId>) -> Result<UserPage, AppError> {
    let data = load_user(&ctx, path.into_inner()).await?;
    Ok(data.page(&ctx, FieldErrors::new(), None))
}

/// Runs one admin change to a user, then back to their page with a flash.
async fn change(
    ctx: Ctx,
    user_id: UserId,
    work: impl FnOnce(&mut PgConnection, &Actor) -> Result<String, AdminChangeError> + Send + 'static,
) -> Result<HttpResponse, AppError> {
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
            Ok(work(conn, actor))
        })
        .await?;
    match outcome {
        Ok(message) => ctx.flash(FlashKind::Success, message),
        Err(AdminChangeError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(AdminChangeError::Password(problem)) => {
            ctx.flash(FlashKind::Error, format!("Password not changed: {problem}"));
        }
        Err(AdminChangeError::Db(err)) => return Err(err.into()),
        Err(AdminChangeError::Hash(err)) => return Err(AppError::Internal(err)),
    }
    Ok(see_other(&format!("/admin/users/{user_id}")))
}

pub async fn disable(
    ctx: Ctx,
    path: web::Path<UserId>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    change(ctx, id, move |conn, actor| {
        users::admin_set_disabled(conn, actor, id, true)?;
        Ok("Disabled, and signed out everywhere.".to_owned())
    })
    .await
}

pub async fn enable(
    ctx: Ctx,
    path: web::Path<UserId>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    change(ctx, id, move |conn, actor| {
        users::admin_set_disabled(conn, actor, id, false)?;
        Ok("Enabled: they can sign in again.".to_owned())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct AdminForm {
    /// `grant` or `revoke`.
    #[serde(default)]
    change: String,
}

pub async fn set_admin(
    ctx: Ctx,
    path: web::Path<UserId>,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let grant = match form.change.as_str() {
        "grant" => true,
        "revoke" => false,
        _ => return Err(AppError::BadRequest("Grant or revoke.".to_owned())),
    };
    change(ctx, id, move |conn, actor| {
        users::set_admin(conn, actor, id, grant)?;
        Ok(if grant {
            "Now an administrator."
        } else {
            "No longer an administrator."
        }
        .to_owned())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn reset_password(
    ctx: Ctx,
    path: web::Path<UserId>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let password = form.password;
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = {
                users::find(conn, id)?.ok_or(AppError::NotFound)?;
                users::reset_password(conn, actor, id, &password)
            };
            let page = load_user_page(conn, actor, id)?;
            Ok((outcome, page))
        })
        .await?;
    match outcome {
        (Ok(()), _) => {
            ctx.flash(
                FlashKind::Success,
                "Password reset; their sessions were ended.",
            );
            Ok(see_other(&format!("/admin/users/{id}")))
        }
        (Err(AdminChangeError::Password(problem)), data) => {
            let mut errors = FieldErrors::new();
            errors.add("password", problem.to_string());
            let page = data.page(&ctx, errors, None);
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        (Err(AdminChangeError::Refused(message)), _) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&format!("/admin/users/{id}")))
        }
        (Err(AdminChangeError::Db(err)), _) => Err(err.into()),
        (Err(AdminChangeError::Hash(err)), _) => Err(AppError::Internal(err)),
    }
}

pub async fn end_sessions(
    ctx: Ctx,
    path: web::Path<UserId>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    change(ctx, id, move |conn, actor| {
        let ended = users::end_sessions(conn, actor, id)?;
        Ok(format!(
            "{ended} session{} ended.",
            if ended == 1 { "" } else { "s" }
        ))
    })
    .await
}
