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

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::error::AppError;

pub async fn index(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let actor = super::actor(&req, &user);
    db::run(&pool, move |conn| -> Result<(), AppError> {
        Ok(crate::domain::access::require_admin(
            conn,
            &actor,
            "open the admin console",
        )?)
    })
    .await?;
    Ok(super::see_other("/admin/projects"))
}
