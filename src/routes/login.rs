//! `/login`: the sign-in form and its POST.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::auth::csrf::CsrfFormKeepingNul;
use crate::auth::login_csrf;
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::login::{self, LoginOutcome};
use crate::error::AppError;
use crate::input::text::escaped_line;
use crate::urls::safe_next;
use crate::views::PageCtx;
use crate::views::login::LoginPage;

/// The one message for every refused sign-in: wrong password, unknown or
/// disabled user, or an account locked after repeated failures.
pub const REFUSED: &str = "That username and password did not work. Check them and try again; after several failed attempts, wait 15 minutes.";

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    changed: Option<String>,
    signed_out: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Permits for password hashing: one per core. Waiting logins hold neither
/// a connection nor hashing memory.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
    })
}

pub async fn form(
    session: TypedSession,
    user: Option<CurrentUser>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref().unwrap_or("/")).to_owned();
    if user.is_some() {
        return Ok(super::see_other(&next));
    }
    let notice = if query.changed.is_some() {
        Some(
            "Your password was changed and every session was signed out. Sign in with the new password.",
        )
    } else if query.signed_out.is_some() {
        Some("You are signed out.")
    } else {
        None
    };
    let page = LoginPage {
        page: PageCtx::new(&session, None, "Sign in", "login"),
        username: String::new(),
        next,
        error: None,
        notice: notice.map(str::to_owned),
        username_error: None,
        password_error: None,
    };
    super::render_with_status(&page, StatusCode::OK)
}

pub async fn submit(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    session: TypedSession,
    CsrfFormKeepingNul(form): CsrfFormKeepingNul<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(&form.next).to_owned();
    // The username is whatever was sent, and it is written to the attempts
    // table and the audit trail: escape NUL, control characters and bidi
    // overrides, so the attempt is stored, throttled and audited like any
    // other. No real username holds them, so the escaped name matches no
    // one. (The password is only hashed: it may hold anything.)
    let form = LoginForm {
        username: escaped_line(&form.username).into_owned(),
        ..form
    };
    let username_error = form
        .username
        .trim()
        .is_empty()
        .then(|| "Enter your username.".to_owned());
    let password_error = form
        .password
        .is_empty()
        .then(|| "Enter your password.".to_owned());
    if username_error.is_some() || password_error.is_some() {
        let page = LoginPage {
            page: PageCtx::new(&session, None, "Sign in", "login"),
            username: form.username,
            next,
            error: None,
            notice: None,
            username_error,
            password_error,
        };
        return super::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }

    let client = super::client_addr(&req);
    let username = form.username.clone();
    let attempt = db::run(&pool, move |conn| login::begin(conn, &username, client)).await?;
    // argon2 with no connection held, and only so many at once: each takes
    // 19 MiB and a core for tens of milliseconds.
    let verdict = {
        let _slot = hashing_slots()
            .acquire()
            .await
            .map_err(AppError::internal)?;
        let password = form.password;
        web::block(move || {
            let verdict = login::check_password(&attempt, &password);
            (attempt, verdict)
        })
        .await
        .map_err(AppError::internal)?
    };
    let outcome = if verdict.0.needs_finish() {
        db::run(&pool, move |conn| login::finish(conn, verdict.0, verdict.1)).await?
    } else {
        LoginOutcome::Refused
    };
    match outcome {
        LoginOutcome::Success(user) => {
            session.log_in(user.id)?;
            let mut response = super::see_other(&next);
            login_csrf::forget(&req, &mut response);
            Ok(response)
        }
        LoginOutcome::Refused => {
            let page = LoginPage {
                page: PageCtx::new(&session, None, "Sign in", "login"),
                username: form.username,
                next,
                error: Some(REFUSED.to_owned()),
                notice: None,
                username_error: None,
                password_error: None,
            };
            super::render_with_status(&page, StatusCode::OK)
        }
    }
}
