//! `/`: every project's pipeline at a glance.

use actix_web::{HttpRequest, web};

use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::{access, dashboard};
use crate::error::AppError;
use crate::views::PageCtx;
use crate::views::dashboard::DashboardPage;

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
) -> Result<DashboardPage, AppError> {
    let actor = super::actor(&req, &user);
    let projects = db::run(&pool, move |conn| -> Result<_, AppError> {
        let visible = access::visible_project_ids(conn, &actor)?;
        Ok(dashboard::overview(conn, visible.as_deref())?)
    })
    .await?;
    Ok(DashboardPage {
        page: PageCtx::new(&session, Some(user), "Dashboard", "dashboard"),
        projects,
    })
}
