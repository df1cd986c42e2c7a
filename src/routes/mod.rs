//! The web layer. Every route is a row of `table`, behind the gate its row
//! names; a handler takes a `context::Ctx`, calls the domain through
//! `Ctx::run`, and renders or redirects.

pub mod account;
pub mod admin;
pub mod api;
pub mod approvals;
pub mod context;
pub mod dashboard;
pub mod deployments;
pub mod environments;
pub mod gate;
pub mod health;
pub mod login;
pub mod logout;
pub mod projects;
pub mod read_cache;
pub mod releases;
pub mod static_files;
pub mod table;
pub mod tokens;

pub use table::{configure, configure_sessionless};

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::auth::CurrentUser;
use crate::domain::audit::Actor;
use crate::error::AppError;

/// Anything no route matched.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// The client's address for the audit: the TCP peer's, or what a trusted
/// proxy says it forwarded for (see `auth::site`).
pub fn client_addr(req: &HttpRequest) -> Option<String> {
    crate::auth::site::Site::of(req).client_addr(req)
}

/// The signed-in user as the domain sees them: for access checks and audit.
pub fn actor(req: &HttpRequest, user: &CurrentUser) -> Actor {
    Actor::user(
        user.id,
        user.username.clone(),
        user.is_admin,
        client_addr(req),
    )
}

/// 303 See Other, the answer to a successful form POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Renders a page with a status other than 200 (e.g. 422 for a form with errors).
pub fn render_with_status(
    page: &impl Template,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}
