use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::dashboard::ProjectOverview;

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub page: PageCtx,
    pub projects: Vec<ProjectOverview>,
}
