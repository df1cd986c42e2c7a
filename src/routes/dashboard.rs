//! `/`: every project's pipeline at a glance.

use actix_web::web;

use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::dashboard;
use crate::error::AppError;
use crate::views::PageCtx;
use crate::views::dashboard::DashboardPage;

pub async fn show(
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
) -> Result<DashboardPage, AppError> {
    let projects = db::run(&pool, dashboard::overview).await?;
    Ok(DashboardPage {
        page: PageCtx::new(&session, Some(user), "Dashboard", "dashboard"),
        projects,
    })
}
