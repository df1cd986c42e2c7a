//! How states look: the CSS classes (and the few words that differ from a
//! state's own, `DeploymentStatus::words`) the templates use, here rather
//! than in the domain, which knows nothing of pages.

use crate::domain::readiness;
use crate::domain::releases::StageState;
use crate::domain::states::{DecisionKind, DeploymentStatus};

impl StageState {
    /// A release's chip for one environment in a list: class suffix and
    /// words. Waiting and queued read alike there; a rejection looks like a
    /// failure.
    pub fn chip(&self) -> (&'static str, &'static str) {
        match self.status {
            None => ("none", "not reached"),
            Some(DeploymentStatus::AwaitingApproval | DeploymentStatus::Queued) => {
                ("waiting", "waiting")
            }
            Some(DeploymentStatus::Running) => ("running", "running"),
            Some(DeploymentStatus::Succeeded) => ("succeeded", "succeeded"),
            Some(DeploymentStatus::Failed) => ("failed", "failed"),
            Some(DeploymentStatus::Rejected) => ("failed", "rejected"),
            Some(DeploymentStatus::Cancelled) => ("cancelled", "cancelled"),
        }
    }
}

impl readiness::State {
    /// The class of a readiness checklist line.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Met => "ok",
            Self::Unmet => "no",
            Self::Waiting => "wait",
        }
    }
}

impl DecisionKind {
    /// An approver's decision on the deployment page: chip class and words.
    pub fn chip(self) -> (&'static str, &'static str) {
        match self {
            Self::Approve => ("succeeded", "approved"),
            Self::Reject => ("failed", "rejected"),
            Self::Defer => ("succeeded", "approved for later"),
        }
    }
}
