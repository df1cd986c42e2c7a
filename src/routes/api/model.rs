//! What the API answers with: plain JSON shapes built from the domain's
//! types, named by slug and version as the paths are.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::dashboard::StageOverview;
use crate::domain::deployments::Deployment;
use crate::domain::environments::Environment;
use crate::domain::ids::DeploymentId;
use crate::domain::readiness::{Check, State};
use crate::domain::releases::{Artifact, Release, TimelineStage};

#[derive(Debug, Serialize)]
pub struct Project {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub environments: Vec<Stage>,
}

/// An environment of a pipeline and what stands there now.
#[derive(Debug, Serialize)]
pub struct Stage {
    pub slug: String,
    pub name: String,
    pub url: Option<String>,
    /// The release live here (its newest successful deployment).
    pub live: Option<Live>,
    /// The newest deployment here, when it is not the live one.
    pub latest: Option<Latest>,
}

#[derive(Debug, Serialize)]
pub struct Live {
    pub version: String,
    pub label: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct Latest {
    pub version: String,
    pub label: String,
    pub state: &'static str,
}

impl From<StageOverview> for Stage {
    fn from(stage: StageOverview) -> Self {
        Stage {
            slug: stage.slug,
            name: stage.name,
            url: stage.url,
            live: stage.live.map(|live| Live {
                version: live.version,
                label: live.label,
                since: live.since,
            }),
            latest: stage.latest.map(|latest| Latest {
                version: latest.version,
                label: latest.label,
                state: latest.status.as_str(),
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReleaseBody {
    pub version: String,
    pub title: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub artifacts: Vec<ArtifactBody>,
    /// Each environment of the pipeline: the release's label there (when it
    /// reached it), its deployments, whether it is live, and what stands
    /// between it and the next step.
    pub environments: Vec<ReleaseStage>,
    pub links: Links,
}

#[derive(Debug, Serialize)]
pub struct Links {
    pub page: String,
}

#[derive(Debug, Serialize)]
pub struct ArtifactBody {
    pub name: String,
    pub reference: String,
    pub url: Option<String>,
    pub sha256: Option<String>,
}

impl From<Artifact> for ArtifactBody {
    fn from(a: Artifact) -> Self {
        ArtifactBody {
            name: a.name,
            reference: a.reference,
            url: a.url,
            sha256: a.sha256,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReleaseStage {
    pub environment: String,
    pub label: Option<String>,
    pub live: bool,
    /// The state of the newest deployment here, if any.
    pub state: Option<&'static str>,
    pub deployments: Vec<DeploymentRef>,
    pub readiness: Vec<ReadinessCheck>,
}

#[derive(Debug, Serialize)]
pub struct DeploymentRef {
    pub id: DeploymentId,
    pub attempt: i32,
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
}

/// One condition of the readiness checklist: `met`, `unmet` or `waiting`.
#[derive(Debug, Serialize)]
pub struct ReadinessCheck {
    pub state: &'static str,
    pub text: String,
}

impl From<Check> for ReadinessCheck {
    fn from(check: Check) -> Self {
        ReadinessCheck {
            state: match check.state {
                State::Met => "met",
                State::Unmet => "unmet",
                State::Waiting => "waiting",
            },
            text: check.text,
        }
    }
}

pub fn release_stage(stage: TimelineStage, readiness: Vec<Check>) -> ReleaseStage {
    ReleaseStage {
        environment: stage.environment.slug.clone(),
        state: stage.latest().map(|d| d.status.as_str()),
        label: stage.label,
        live: stage.live,
        deployments: stage
            .deployments
            .iter()
            .map(|d| DeploymentRef {
                id: d.id,
                attempt: d.attempt,
                state: d.status.as_str(),
                created_at: d.created_at,
            })
            .collect(),
        readiness: readiness.into_iter().map(ReadinessCheck::from).collect(),
    }
}

pub fn release_page(project: &str, release: &Release) -> String {
    crate::routes::releases::release_url(project, &release.version)
}

#[derive(Debug, Serialize)]
pub struct DeploymentBody {
    pub id: DeploymentId,
    /// One of the states of PRODUCT.md: awaiting_approval, queued, running,
    /// succeeded, failed, rejected, cancelled.
    pub state: &'static str,
    /// Still waiting, queued or running: its state may change.
    pub active: bool,
    pub project: String,
    pub environment: String,
    pub version: String,
    pub label: String,
    pub attempt: i32,
    pub rollback: bool,
    pub comment: String,
    pub requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub not_before: Option<DateTime<Utc>>,
    pub required_approvals: i32,
    pub approval_deadline: Option<DateTime<Utc>>,
    pub note: String,
    pub links: Links,
}

pub struct Named<'a> {
    pub project: &'a str,
    pub environment: &'a Environment,
    pub version: &'a str,
    pub label: &'a str,
    pub requested_by: Option<&'a str>,
}

pub fn deployment(d: &Deployment, named: &Named<'_>) -> DeploymentBody {
    DeploymentBody {
        id: d.id,
        state: d.status.as_str(),
        active: d.status.is_active(),
        project: named.project.to_owned(),
        environment: named.environment.slug.clone(),
        version: named.version.to_owned(),
        label: named.label.to_owned(),
        attempt: d.attempt,
        rollback: d.is_rollback,
        comment: d.comment.clone(),
        requested_by: named.requested_by.map(str::to_owned),
        created_at: d.created_at,
        started_at: d.started_at,
        finished_at: d.finished_at,
        not_before: d.not_before,
        required_approvals: d.required_approvals,
        approval_deadline: d.approval_deadline,
        note: d.note.clone(),
        links: Links {
            page: format!("/deployments/{}", d.id),
        },
    }
}
