//! `/admin`: the console for administrators — projects and pipelines, users,
//! teams, who may do what where, and the audit log. Every handler checks
//! the admin flag at its route's gate (`routes::gate`), which audits refusals
//! through `access::require_admin`; the handlers never repeat it.

pub mod access;
pub mod audit;
pub mod environment;
pub mod freezes;
pub mod projects;
pub mod retention;
pub mod teams;
pub mod users;
pub mod webhooks;

use actix_web::HttpResponse;

/// The console's front door: the gate has already checked the admin flag.
pub async fn index() -> HttpResponse {
    super::see_other("/admin/projects")
}
