use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::dashboard::ProjectOverview;
use crate::domain::environments::Environment;
use crate::domain::projects::Project;
use crate::domain::releases::ReleaseRow;

#[derive(Template, WebTemplate)]
#[template(path = "projects/show.html")]
pub struct ProjectPage {
    pub page: PageCtx,
    pub project: Project,
    pub overview: ProjectOverview,
    pub pipeline: Vec<Environment>,
    pub recent: Vec<ReleaseRow>,
    pub can_create_release: bool,
    pub is_admin: bool,
    /// The project's recent audit trail.
    pub audit: Vec<crate::domain::audit::AuditEvent>,
}
