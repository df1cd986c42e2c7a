use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::deployments::{Deployment, LogLine, StepRun};
use crate::domain::environments::Environment;
use crate::domain::ids::UserId;
use crate::domain::projects::Project;

#[allow(
    clippy::struct_excessive_bools,
    reason = "what the page offers this user, one flag each"
)]
#[derive(Template, WebTemplate)]
#[template(path = "deployments/show.html")]
pub struct DeploymentPage {
    pub page: PageCtx,
    pub project: Project,
    pub environment: Environment,
    pub deployment: Deployment,
    pub version: String,
    pub label: String,
    pub requested_by: Option<String>,
    pub steps: Vec<StepRun>,
    pub log: Vec<LogLine>,
    /// More lines exist than the page shows.
    pub log_more: bool,
    pub can_cancel: bool,
    pub active: bool,
    pub approvals: Vec<crate::domain::approvals::ApprovalView>,
    /// The user may decide on it now.
    pub can_approve: bool,
    /// The freeze holding its environment now, if any.
    pub freeze: Option<crate::domain::freezes::Freeze>,
    /// The window is closed now.
    pub window_closed: bool,
    /// The user holds approver there (break-glass is theirs to use).
    pub is_approver: bool,
    /// The user holds a role on the environment, so may read the log.
    pub can_read_log: bool,
    pub me: UserId,
}

impl DeploymentPage {
    pub fn cause_text(&self) -> &'static str {
        self.deployment.cause.words()
    }

    /// Started by the environment's trigger rather than asked for.
    pub fn by_trigger(&self) -> bool {
        self.deployment.cause != crate::domain::states::Cause::Person
    }

    /// Where decision forms return to.
    pub fn back_url(&self) -> String {
        format!("/deployments/{}", self.deployment.id)
    }

    pub fn status_text(&self) -> &'static str {
        self.deployment.state_words()
    }
}
