use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
pub use crate::domain::changes::Change;
use crate::domain::environments::Environment;
use crate::domain::ids::EnvironmentId;
pub use crate::domain::offers::Offer;
use crate::domain::projects::Project;
use crate::domain::releases::{Artifact, ArtifactInput, Release, ReleaseRow, TimelineStage};
use crate::domain::validation::FieldErrors;

#[derive(Template, WebTemplate)]
#[template(path = "releases/list.html")]
pub struct ReleaseListPage {
    pub page: PageCtx,
    pub project: Project,
    pub pipeline: Vec<Environment>,
    pub rows: Vec<ReleaseRow>,
    pub search: String,
    pub environment: String,
    /// Query string of the next (older) page, if any.
    pub next_page: Option<String>,
    pub is_first_page: bool,
    pub can_create_release: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "releases/new.html")]
pub struct NewReleasePage {
    pub page: PageCtx,
    pub project: Project,
    pub first_environment: String,
    pub deploys_on_creation: bool,
    pub version: String,
    pub title: String,
    pub description: String,
    pub artifacts: Vec<ArtifactInput>,
    pub errors: FieldErrors,
}

impl NewReleasePage {
    /// The error of artifact row `i`'s `field`, if any.
    pub fn artifact_error(&self, i: &usize, field: &str) -> Option<&str> {
        self.errors.get(&format!("artifacts[{i}].{field}"))
    }
}

/// A stage of the release page: the timeline entry and what is offered.
#[derive(Clone)]
pub struct StageView {
    pub stage: TimelineStage,
    pub offer: Offer,
    /// The variables a deployment here would get, from the snapshot.
    pub variables: Vec<crate::domain::variables::Effective>,
    /// Every condition for entering, with its state ("why not yet").
    pub readiness: Vec<crate::domain::readiness::Check>,
    /// The furthest stage (index) "deploy as far as" may name from here:
    /// the viewer holds the deployer role on every one up to it.
    pub reach: usize,
    /// Where a deployment is offered and another release is live: that
    /// release's version, to compare with ("what changes").
    pub changes_from: Option<String>,
}

/// `/projects/{project}/compare`: what going from one release to another
/// changes in an environment.
#[derive(Template, WebTemplate)]
#[template(path = "releases/compare.html")]
pub struct ComparePage {
    pub page: PageCtx,
    pub project: Project,
    pub pipeline: Vec<Environment>,
    pub from: String,
    pub to: String,
    pub environment: String,
    pub errors: FieldErrors,
    /// Present once both releases were found.
    pub result: Option<Compared>,
}

pub struct Compared {
    pub from: Release,
    pub to: Release,
    pub environment: Environment,
    pub changes: crate::domain::changes::Changes,
}

/// What the deploy form was sent with, to show it again beside its errors.
#[derive(Debug, Clone, Default)]
pub struct DeployFormState {
    pub environment_id: EnvironmentId,
    pub version_label: String,
    pub comment: String,
    pub not_before: String,
    pub target: String,
    pub errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "releases/show.html")]
pub struct ReleasePage {
    pub page: PageCtx,
    pub project: Project,
    pub release: Release,
    pub created_by: Option<String>,
    pub artifacts: Vec<Artifact>,
    pub stages: Vec<StageView>,
    pub delete_blocker: Option<String>,
    pub deploy_form: DeployFormState,
    /// "Do not promote", while it holds.
    pub block: Option<crate::domain::blocks::Block>,
    /// The viewer may block or unblock it.
    pub can_block: bool,
    pub block_form: BlockFormState,
}

/// The block form as sent, when it comes back with an error.
#[derive(Debug, Default)]
pub struct BlockFormState {
    pub reason: String,
    pub errors: FieldErrors,
}

impl ReleasePage {
    /// How far the release got, for the lineage picture: index of the last
    /// environment it reached.
    pub fn reached_count(&self) -> usize {
        self.stages.iter().filter(|s| s.stage.reached()).count()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "releases/delete.html")]
pub struct DeleteReleasePage {
    pub page: PageCtx,
    pub project: Project,
    pub release: Release,
}
