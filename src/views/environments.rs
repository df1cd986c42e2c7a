use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::deployments::DeploymentView;
use crate::domain::environments::Environment;
use crate::domain::projects::Project;

#[derive(Template, WebTemplate)]
#[template(path = "environments/show.html")]
pub struct EnvironmentPage {
    pub page: PageCtx,
    pub project: Project,
    pub environment: Environment,
    pub position: usize,
    pub pipeline_length: usize,
    pub live: Option<DeploymentView>,
    /// The newest success here of a release older than the live one: what
    /// "roll back" brings back.
    pub previous: Option<DeploymentView>,
    /// The viewer may deploy here (and so roll back).
    pub can_deploy: bool,
    pub active: Vec<DeploymentView>,
    /// More are waiting than `active` holds (they are in the history).
    pub more_active: bool,
    pub history: Vec<DeploymentView>,
    pub next_page: Option<String>,
    pub is_first_page: bool,
}
