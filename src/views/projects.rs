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
    /// The newest releases, as the release list shows them.
    pub rows: Vec<ReleaseRow>,
    pub can_create_release: bool,
    pub is_admin: bool,
    /// The project's recent audit trail.
    pub audit: Vec<crate::domain::audit::AuditEvent>,
}
