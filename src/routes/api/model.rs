//! What the API answers with: plain JSON shapes built from the domain's
//! types, named by slug and version as the paths are.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::approvals::ApprovalView;
use crate::domain::dashboard::StageOverview;
use crate::domain::deployments::{Deployment, DeploymentView, LogPiece, StepRun};
use crate::domain::environments::Environment;
use crate::domain::ids::DeploymentId;
use crate::domain::readiness::{Check, State};
use crate::domain::releases::{Artifact, Release, TimelineStage};
use crate::domain::states::{DecisionKind, DeploymentStatus, StepKind, StepStatus};

#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub environments: Vec<Stage>,
}

/// An environment of a pipeline and what stands there now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stage {
    pub slug: String,
    pub name: String,
    pub url: Option<String>,
    /// The release live here (its newest successful deployment).
    pub live: Option<Live>,
    /// The newest deployment here, when it is not the live one.
    pub latest: Option<Latest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    pub version: String,
    pub label: String,
    pub since: DateTime<Utc>,
    /// Blocked from going further ("do not promote").
    pub blocked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Latest {
    pub version: String,
    pub label: String,
    pub state: DeploymentStatus,
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
                blocked: live.blocked,
            }),
            latest: stage.latest.map(|latest| Latest {
                version: latest.version,
                label: latest.label,
                state: latest.status,
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseBody {
    pub version: String,
    pub title: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub artifacts: Vec<ArtifactBody>,
    /// While it holds: "do not promote", with who, when and why.
    pub block: Option<BlockBody>,
    /// Each environment of the pipeline: the release's label there (when it
    /// reached it), its deployments, whether it is live, and what stands
    /// between it and the next step.
    pub environments: Vec<ReleaseStage>,
    pub links: Links,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockBody {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl From<crate::domain::blocks::Block> for BlockBody {
    fn from(b: crate::domain::blocks::Block) -> Self {
        BlockBody {
            reason: b.reason,
            by: b.by,
            at: b.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Links {
    pub page: String,
}

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseStage {
    pub environment: String,
    pub label: Option<String>,
    pub live: bool,
    /// The state of the newest deployment here, if any.
    pub state: Option<DeploymentStatus>,
    pub deployments: Vec<DeploymentRef>,
    pub readiness: Vec<ReadinessCheck>,
    /// Where another release is live: what deploying this one there
    /// changes.
    pub changes: Option<ChangesBody>,
}

/// What deploying a release where `from` is live changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesBody {
    /// The release live there now.
    pub from: String,
    /// `from` is newer: a rollback, and `notes` are what it takes out.
    pub backwards: bool,
    /// The releases that go out (or come out), newest first.
    pub notes: Vec<NoteBody>,
    /// More than `notes` holds lie between.
    pub more_notes: bool,
    pub artifacts: Vec<ArtifactChange>,
    /// Names only: values are not part of an answer.
    pub variables: Vec<NamedChange>,
    pub steps: Vec<NamedChange>,
    /// Verification checks.
    pub checks: Vec<NamedChange>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteBody {
    pub version: String,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactChange {
    pub name: String,
    pub change: ChangeKind,
    pub before: Option<ArtifactBody>,
    pub after: Option<ArtifactBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedChange {
    pub name: String,
    pub change: ChangeKind,
    /// A variable's value is secret (only whether it changed is told).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

fn kind<T>(c: &crate::domain::changes::Change<T>) -> ChangeKind {
    use crate::domain::changes::Change;
    match c {
        Change::Added(_) => ChangeKind::Added,
        Change::Removed(_) => ChangeKind::Removed,
        Change::Changed { .. } => ChangeKind::Changed,
    }
}

/// Changes of things told apart by name (steps, checks): names only.
fn named<T>(
    changes: &[crate::domain::changes::Change<T>],
    name: impl Fn(&T) -> &String,
) -> Vec<NamedChange> {
    changes
        .iter()
        .map(|c| NamedChange {
            name: name(c.subject()).clone(),
            change: kind(c),
            secret: false,
        })
        .collect()
}

impl ChangesBody {
    pub fn new(from: String, changes: crate::domain::changes::Changes) -> Self {
        use crate::domain::changes::Change;
        ChangesBody {
            from,
            backwards: changes.backwards,
            more_notes: changes.more_notes,
            notes: changes
                .notes
                .into_iter()
                .map(|n| NoteBody {
                    version: n.version,
                    title: n.title,
                    description: n.description,
                })
                .collect(),
            artifacts: changes
                .artifacts
                .into_iter()
                .map(|c| {
                    let change = kind(&c);
                    let name = c.subject().name.clone();
                    let (before, after) = match c {
                        Change::Added(a) => (None, Some(a.into())),
                        Change::Removed(a) => (Some(a.into()), None),
                        Change::Changed { before, after } => {
                            (Some(before.into()), Some(after.into()))
                        }
                    };
                    ArtifactChange {
                        name,
                        change,
                        before,
                        after,
                    }
                })
                .collect(),
            variables: changes
                .variables
                .iter()
                .map(|c| NamedChange {
                    name: c.subject().name.clone(),
                    change: kind(c),
                    secret: c.subject().secret,
                })
                .collect(),
            steps: named(&changes.steps, |s| &s.name),
            checks: named(&changes.checks, |c| &c.name),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentRef {
    pub id: DeploymentId,
    pub attempt: i32,
    pub state: DeploymentStatus,
    pub created_at: DateTime<Utc>,
}

/// One condition of the readiness checklist.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessCheck {
    pub state: CheckState,
    pub text: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Met,
    Unmet,
    Waiting,
}

impl From<Check> for ReadinessCheck {
    fn from(check: Check) -> Self {
        ReadinessCheck {
            state: match check.state {
                State::Met => CheckState::Met,
                State::Unmet => CheckState::Unmet,
                State::Waiting => CheckState::Waiting,
            },
            text: check.text,
        }
    }
}

pub fn release_stage(
    stage: TimelineStage,
    readiness: Vec<Check>,
    changes: Option<ChangesBody>,
) -> ReleaseStage {
    ReleaseStage {
        changes,
        environment: stage.environment.slug.clone(),
        state: stage.latest().map(|d| d.status),
        label: stage.label,
        live: stage.live,
        deployments: stage
            .deployments
            .iter()
            .map(|d| DeploymentRef {
                id: d.id,
                attempt: d.attempt,
                state: d.status,
                created_at: d.created_at,
            })
            .collect(),
        readiness: readiness.into_iter().map(ReadinessCheck::from).collect(),
    }
}

pub fn release_page(project: &str, release: &Release) -> String {
    crate::routes::releases::release_url(project, &release.version)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentBody {
    pub id: DeploymentId,
    /// One of the states of PRODUCT.md.
    pub state: DeploymentStatus,
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
    /// Cancelled because a newer release was requested there: that one.
    pub superseded_by: Option<DeploymentId>,
    /// When its steps succeeded and its checks began: a `running`
    /// deployment with this set is verifying (pages say so).
    pub verifying_since: Option<DateTime<Utc>>,
    /// Failed because its checks did not all pass in time.
    pub failed_verification: bool,
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
        state: d.status,
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
        verifying_since: d.verifying_since,
        failed_verification: d.failed_verification,
        note: d.note.clone(),
        superseded_by: d.superseded_by,
        links: Links {
            page: format!("/deployments/{}", d.id),
        },
    }
}

/// `GET /api/v1/projects`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// A page of releases, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseRow>,
    /// Give it as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseRow {
    pub version: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    /// Blocked from going further ("do not promote").
    pub blocked: bool,
    /// Every environment of the pipeline, in order.
    pub environments: Vec<ReleaseRowStage>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseRowStage {
    pub environment: String,
    /// The newest deployment's state here, if any.
    pub state: Option<DeploymentStatus>,
    pub label: Option<String>,
    pub live: bool,
}

/// A deployment with its steps, the decisions on it, who may still
/// approve, what holds its environment, and its release's readiness there.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub deployment: DeploymentBody,
    pub steps: Vec<StepBody>,
    pub approvals: Vec<ApprovalBody>,
    /// Approvers of the environment who have not decided yet (while it
    /// waits for approval).
    pub may_still_approve: Vec<String>,
    /// The reason of the freeze holding the environment now, if any.
    pub freeze: Option<String>,
    /// False when the environment has a deployment window and it is closed.
    pub window_open: bool,
    pub readiness: Vec<ReadinessCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepBody {
    pub position: i32,
    pub name: String,
    pub kind: StepKind,
    pub state: StepStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub detail: String,
    /// A manual step's instructions (it waits for an approver while
    /// `running`).
    pub instructions: String,
}

impl From<&StepRun> for StepBody {
    fn from(s: &StepRun) -> Self {
        StepBody {
            position: s.position,
            name: s.name.clone(),
            kind: s.kind,
            state: s.status,
            started_at: s.started_at,
            finished_at: s.finished_at,
            detail: s.detail.clone(),
            instructions: s.instructions.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalBody {
    pub approver: String,
    pub decision: DecisionKind,
    pub comment: String,
    pub defer_until: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

impl From<&ApprovalView> for ApprovalBody {
    fn from(a: &ApprovalView) -> Self {
        ApprovalBody {
            approver: a.approver.clone(),
            decision: a.decision,
            comment: a.comment.clone(),
            defer_until: a.defer_until,
            at: a.at,
        }
    }
}

/// What an approval, rejection or deferral answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionAnswer {
    pub deployment: DeploymentBody,
    /// Distinct approvals so far, while more are needed; null once it is
    /// queued or rejected.
    pub approvals: Option<i64>,
    pub required_approvals: Option<i32>,
}

/// A page of an environment's deployments, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<DeploymentRow>,
    /// Give it as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentRow {
    pub id: DeploymentId,
    pub state: DeploymentStatus,
    pub version: String,
    pub label: String,
    pub attempt: i32,
    pub rollback: bool,
    pub requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&DeploymentView> for DeploymentRow {
    fn from(d: &DeploymentView) -> Self {
        DeploymentRow {
            id: d.id,
            state: d.status,
            version: d.version.clone(),
            label: d.label.clone(),
            attempt: d.attempt,
            rollback: d.is_rollback,
            requested_by: d.requested_by.clone(),
            created_at: d.created_at,
            finished_at: d.finished_at,
        }
    }
}

/// A piece of a deployment's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogBody {
    pub id: DeploymentId,
    pub state: DeploymentStatus,
    /// The byte offset asked for.
    pub offset: i64,
    /// Ask from here next.
    pub next_offset: i64,
    pub text: String,
    /// Finished, and nothing more to read: stop following.
    pub complete: bool,
}

impl LogBody {
    pub fn new(id: DeploymentId, status: DeploymentStatus, offset: i64, piece: LogPiece) -> Self {
        LogBody {
            id,
            state: status,
            offset,
            next_offset: piece.next_offset,
            text: piece.text,
            complete: !status.is_active() && !piece.more,
        }
    }
}
