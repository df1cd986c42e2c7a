//! `/`: every project's pipeline at a glance.

use crate::domain::{access, dashboard};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::dashboard::DashboardPage;

pub async fn show(ctx: Ctx) -> Result<DashboardPage, AppError> {
    let projects = ctx
        .read(move |conn, actor| -> Result<_, AppError> {
            let visible = access::visible_project_ids(conn, actor)?;
            Ok(dashboard::overview(conn, visible.as_deref())?)
        })
        .await?;
    Ok(DashboardPage {
        page: ctx.page("Dashboard", "dashboard"),
        projects,
    })
}
