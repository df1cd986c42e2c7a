//! Deployments: one attempt to run a release's steps in one environment.
//! Every change of state is one transaction with its audit event. By job:
//! `request.rs` (asking for one, cancelling), `queue.rs` (the worker's side:
//! claim, lease, reap, finish), `chain.rs` ("as far as"), `steps.rs`, `log.rs` and `history.rs` (the
//! lists pages show). This module holds the row and what they share.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::access::{self, Role};
use super::audit::{self, Actor, Event};
use super::environments::{self, Environment};
use super::keyset::Cursor;
use super::releases::Release;
pub use super::states::{Cause, DeploymentStatus, StepKind, StepStatus};
use super::states::{QueuePolicy, Trigger};
use super::validation::{self, FieldErrors};
use crate::db::schema::environments as environments_table;
use crate::db::schema::{
    deployment_logs, deployment_steps, deployments, environment_releases, releases, users,
};
use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId, ReleaseId, UserId};

mod chain;
mod history;
mod log;
pub mod manual;
mod queue;
mod request;
mod steps;
mod verification;

use chain::*;
pub use history::*;
pub use log::*;
pub use queue::*;
pub use request::*;
pub use steps::*;
pub use verification::*;

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = deployments)]
pub struct Deployment {
    pub id: DeploymentId,
    pub environment_release_id: i64,
    pub release_id: ReleaseId,
    pub environment_id: EnvironmentId,
    pub attempt: i32,
    pub status: DeploymentStatus,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it ended as it did, when that needs saying ("worker lost", …).
    pub note: String,
    /// Nothing starts it before this (asked for, or set by a deferral).
    pub not_before: Option<DateTime<Utc>>,
    /// Distinct approvers it needs, fixed when it was requested.
    pub required_approvals: i32,
    /// Not approved by then, it is rejected.
    pub approval_deadline: Option<DateTime<Utc>>,
    /// "Deploy as far as": each success requests the next environment up
    /// to this one.
    pub target_environment_id: Option<EnvironmentId>,
    /// Break-glass: why a freeze or closed window may be overridden, who
    /// asked, and the second approver who confirmed.
    pub override_reason: Option<String>,
    pub override_requested_by: Option<UserId>,
    pub override_confirmed_by: Option<i64>,
    /// Why it exists: a person asked, or the environment's own trigger.
    pub cause: Cause,
    /// Cancelled because a newer release was requested where the policy
    /// supersedes: that deployment.
    pub superseded_by: Option<DeploymentId>,
    /// Its steps succeeded and its checks run since then (shown as
    /// "verifying"; still `running` to every rule).
    pub verifying_since: Option<DateTime<Utc>>,
    /// It failed because its checks did not pass in time.
    pub failed_verification: bool,
}

impl Deployment {
    /// Running, past its steps, its checks being tried.
    pub fn is_verifying(&self) -> bool {
        self.status == DeploymentStatus::Running && self.verifying_since.is_some()
    }

    /// The state as people read it: "verifying" is a running deployment
    /// past its steps.
    pub fn state_words(&self) -> &'static str {
        self.status.shown_words(self.verifying_since.is_some())
    }

    /// The state's CSS class suffix.
    pub fn state_class(&self) -> &'static str {
        self.status.shown_class(self.verifying_since.is_some())
    }
}

/// The statuses as SQL literals for read queries, so their plans stay
/// cached and still use the partial indexes on status (`db::constant`).
pub mod status {
    use diesel::sql_types::Text;

    use crate::db::constant::Const;

    crate::text_constants! {
        AWAITING_APPROVAL: AwaitingApproval = "awaiting_approval";
        QUEUED: Queued = "queued";
        RUNNING: Running = "running";
        SUCCEEDED: Succeeded = "succeeded";
    }

    /// The active statuses (`DeploymentStatus::is_active`) as an SQL array
    /// literal, for `eq_any`.
    pub type Active =
        diesel::dsl::array<Text, (Const<AwaitingApproval>, Const<Queued>, Const<Running>)>;

    pub fn active() -> Active {
        diesel::dsl::array((AWAITING_APPROVAL, QUEUED, RUNNING))
    }

    /// Queued or running: a deployment a worker holds or will take.
    pub fn in_flight() -> diesel::dsl::array<Text, (Const<Queued>, Const<Running>)> {
        diesel::dsl::array((QUEUED, RUNNING))
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub environment_id: EnvironmentId,
    /// The label in the target environment; empty keeps the previous one.
    pub version_label: String,
    pub comment: String,
    /// Start no earlier than this.
    pub not_before: Option<DateTime<Utc>>,
    /// Keep promoting after success, up to this environment.
    pub target_environment_id: Option<EnvironmentId>,
    /// Who or what starts it; a person is the actor.
    pub cause: Cause,
    /// Marked as a rollback whatever is live (the automatic rollback
    /// deploys again what is live by the records, after a newer release
    /// ran its steps there and failed its checks).
    pub rollback: bool,
    /// The newest deployment of this release into this environment the
    /// person saw when they asked (a form's hidden field; 0 for none): a
    /// newer one means the form was sent twice, or someone else got there
    /// first, and nothing more is asked for. `None`: no such check (the
    /// API, whose retries carry an idempotency key instead).
    pub seen: Option<DeploymentId>,
}

/// How a request for a deployment says no (see `rejection`).
pub type DeployError = crate::domain::rejection::Rejection;

fn project_of(conn: &mut PgConnection, environment_id: EnvironmentId) -> QueryResult<ProjectId> {
    environments_table::table
        .find(environment_id)
        .select(environments_table::project_id)
        .first(conn)
}

pub fn find(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
) -> QueryResult<Option<Deployment>> {
    deployments::table
        .find(deployment_id)
        .select(Deployment::as_select())
        .first(conn)
        .optional()
}
