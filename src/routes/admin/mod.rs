//! `/admin`: the console for administrators — projects and pipelines, users,
//! teams, who may do what where, and the audit log. Every handler checks
//! the admin flag through `access::require_admin`, which audits refusals.

pub mod access;
pub mod audit;
pub mod environment;
pub mod freezes;
pub mod projects;
pub mod retention;
pub mod teams;
pub mod users;

use actix_web::HttpResponse;

use crate::error::AppError;
use crate::routes::context::Ctx;

pub async fn index(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.run(move |conn, actor| -> Result<(), AppError> {
        Ok(crate::domain::access::require_admin(
            conn,
            actor,
            "open the admin console",
        )?)
    })
    .await?;
    Ok(super::see_other("/admin/projects"))
}
