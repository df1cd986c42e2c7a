//! Approving, rejecting and deferring deployments, the approver's inbox,
//! and rejecting what waited too long. A deployment needs its required
//! number of distinct approvers; one rejection ends it; a deferral is an
//! approval that also holds the deployment until a time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::deployments::Deployment;
use super::states::{DecisionKind, DeploymentStatus};
use crate::db::schema::{
    approvals, deployments, environment_releases, environments, grants, projects, releases,
    team_members, users,
};
use crate::domain::ids::{DeploymentId, ProjectId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    /// Approve, but start no earlier than this.
    Defer(DateTime<Utc>),
}

/// How this area says no (see `rejection`).
pub type ApprovalError = crate::domain::rejection::Rejection;

/// What a decision led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Counted; this many distinct approvals of the required number.
    Counted(i64, i32),
    /// The last approval needed: the deployment is queued.
    Queued,
    Rejected,
}

/// Records one approver's decision. The deployment row is locked, so two
/// approvers deciding at once are both counted and it is queued once; the
/// same approver approving twice counts once (a unique index). The caller
/// has checked that `actor` holds `approver` on the environment.
pub fn decide(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
    decision: &Decision,
    comment: &str,
) -> Result<Decided, ApprovalError> {
    let approver = actor
        .user_id
        .ok_or_else(|| ApprovalError::Refused("Only a person can approve.".to_owned()))?;
    if comment.chars().count() > 2000 {
        return Err(ApprovalError::Refused(
            "Keep the comment under 2,000 characters.".to_owned(),
        ));
    }
    if let Some(problem) = crate::input::text::lines_problem(comment) {
        return Err(ApprovalError::Refused(format!("The comment: {problem}")));
    }
    if matches!(decision, Decision::Defer(until) if *until <= Utc::now()) {
        return Err(ApprovalError::Refused(
            "Defer until a time in the future.".to_owned(),
        ));
    }
    conn.transaction(|conn| {
        let deployment: Deployment = deployments::table
            .find(deployment_id)
            .select(Deployment::as_select())
            .for_update()
            .first(conn)?;
        if deployment.status != DeploymentStatus::AwaitingApproval {
            return Err(ApprovalError::Refused(format!(
                "It no longer waits for approval: it is {}.",
                deployment.status.words()
            )));
        }
        let (allow_self, project_id): (bool, ProjectId) = environments::table
            .find(deployment.environment_id)
            .select((environments::allow_self_approval, environments::project_id))
            .first(conn)?;
        if deployment.requested_by == Some(approver) && !allow_self && *decision != Decision::Reject
        {
            return Err(ApprovalError::Refused(
                "You asked for this deployment; someone else must approve it.".to_owned(),
            ));
        }
        let (kind, until) = match decision {
            Decision::Approve => (DecisionKind::Approve, None),
            Decision::Reject => (DecisionKind::Reject, None),
            Decision::Defer(until) => (DecisionKind::Defer, Some(*until)),
        };
        let inserted = diesel::insert_into(approvals::table)
            .values((
                approvals::deployment_id.eq(deployment_id),
                approvals::approver_id.eq(approver),
                approvals::decision.eq(kind),
                approvals::comment.eq(comment.trim()),
                approvals::defer_until.eq(until),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .map_err(refusal_from_database)?;
        if inserted == 0 {
            return Err(ApprovalError::Refused(
                "You have already approved this deployment.".to_owned(),
            ));
        }
        audit::record(
            conn,
            actor,
            Event::new(
                match decision {
                    Decision::Approve => "deployment.approved",
                    Decision::Reject => "deployment.rejected",
                    Decision::Defer(_) => "deployment.deferred",
                },
                "deployment",
                deployment_id,
            )
            .in_project(project_id)
            .details(json!({ "comment": comment.trim(), "until": until.map(|t| t.to_rfc3339()) })),
        )?;
        if *decision == Decision::Reject {
            diesel::update(deployments::table.find(deployment_id))
                .set((
                    deployments::status.eq(DeploymentStatus::Rejected),
                    deployments::finished_at.eq(Utc::now()),
                    deployments::note.eq(format!("Rejected by {}.", actor.name)),
                ))
                .execute(conn)?;
            return Ok(Decided::Rejected);
        }
        if let Some(until) = until {
            diesel::update(deployments::table.find(deployment_id))
                .set(
                    deployments::not_before
                        .eq(deployment.not_before.map_or(until, |nb| nb.max(until))),
                )
                .execute(conn)?;
        }
        // The requester's own approval never counts where self-approval is
        // off (the database refuses to record it; this holds if the
        // setting changes while a deployment waits).
        let mut counted = approvals::table
            .filter(approvals::deployment_id.eq(deployment_id))
            .filter(approvals::decision.eq_any([DecisionKind::Approve, DecisionKind::Defer]))
            .into_boxed();
        if let (Some(requester), false) = (deployment.requested_by, allow_self) {
            counted = counted.filter(approvals::approver_id.ne(requester));
        }
        let approved: i64 = counted
            .select(diesel::dsl::count(approvals::approver_id).aggregate_distinct())
            .first(conn)?;
        if approved < i64::from(deployment.required_approvals) {
            return Ok(Decided::Counted(approved, deployment.required_approvals));
        }
        diesel::update(deployments::table.find(deployment_id))
            .set(deployments::status.eq(DeploymentStatus::Queued))
            .execute(conn)
            .map_err(refusal_from_database)?;
        audit::record(
            conn,
            &Actor::system(),
            Event::new("deployment.queued", "deployment", deployment_id)
                .in_project(project_id)
                .details(json!({ "approvals": approved })),
        )?;
        Ok(Decided::Queued)
    })
}

/// The rules the database holds on approvals, as a refusal.
fn refusal_from_database(err: diesel::result::Error) -> ApprovalError {
    match crate::db::violated_check(&err) {
        Some("approvals_not_by_requester") => ApprovalError::Refused(
            "You asked for this deployment; someone else must approve it.".to_owned(),
        ),
        Some("approvals_approver_holds_role") => ApprovalError::Refused(
            "You need the approver role on this environment to decide here.".to_owned(),
        ),
        Some("release_blocked") => ApprovalError::Refused(
            "This release is blocked: it goes nowhere new until it is unblocked.".to_owned(),
        ),
        _ => ApprovalError::Db(err),
    }
}

/// Rejects deployments that waited for approval past their deadline.
pub fn expire(conn: &mut PgConnection) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let expired: Vec<(i64, i64)> = diesel::update(
            deployments::table
                .filter(deployments::status.eq(DeploymentStatus::AwaitingApproval))
                .filter(deployments::approval_deadline.lt(Utc::now())),
        )
        .set((
            deployments::status.eq(DeploymentStatus::Rejected),
            deployments::finished_at.eq(Utc::now()),
            deployments::note.eq("Approval timed out."),
        ))
        .returning((deployments::id, deployments::environment_id))
        .get_results(conn)?;
        for (id, environment_id) in &expired {
            let project_id: ProjectId = environments::table
                .find(environment_id)
                .select(environments::project_id)
                .first(conn)?;
            audit::record(
                conn,
                &Actor::system(),
                Event::new("deployment.rejected", "deployment", id)
                    .in_project(project_id)
                    .details(json!({ "reason": "approval timed out" })),
            )?;
        }
        Ok(expired.len())
    })
}

/// One decision, as the deployment page lists it (read with the page's
/// other surroundings, `deployment_view`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ApprovalView {
    pub approver: String,
    pub decision: DecisionKind,
    pub comment: String,
    pub defer_until: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A deployment waiting in someone's inbox.
#[derive(Debug, Clone)]
pub struct InboxItem {
    pub deployment_id: DeploymentId,
    pub project: String,
    pub project_name: String,
    pub environment: String,
    pub version: String,
    pub label: String,
    pub requested_by: Option<String>,
    pub requested_by_id: Option<UserId>,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub approvals: i64,
    pub required: i32,
    pub approved_by_me: bool,
}

impl InboxItem {
    /// How long it has waited, in words.
    pub fn age(&self) -> String {
        let minutes = (Utc::now() - self.created_at).num_minutes().max(0);
        match minutes {
            0 => "just now".to_owned(),
            m if m < 60 => format!("{m} min ago"),
            m if m < 48 * 60 => format!("{} h ago", m / 60),
            m => format!("{} days ago", m / (24 * 60)),
        }
    }
}

/// Environments where `actor` may approve: `None` means all (admin).
fn approvable(conn: &mut PgConnection, actor: &Actor) -> QueryResult<Option<Vec<i64>>> {
    if actor.is_admin {
        return Ok(None);
    }
    let Some(user_id) = actor.user_id else {
        return Ok(Some(Vec::new()));
    };
    let teams = team_members::table
        .filter(team_members::user_id.eq(user_id))
        .select(team_members::team_id.nullable());
    grants::table
        .filter(grants::role.eq("approver"))
        .filter(
            grants::user_id
                .eq(user_id)
                .or(grants::team_id.eq_any(teams)),
        )
        .select(grants::environment_id)
        .distinct()
        .load(conn)
        .map(Some)
}

/// A deployment waiting at a manual step for an approver.
#[derive(Debug, Clone)]
pub struct ManualItem {
    pub deployment_id: DeploymentId,
    pub position: i32,
    pub step: String,
    pub instructions: String,
    pub project_name: String,
    pub environment: String,
    pub label: String,
    pub since: Option<DateTime<Utc>>,
}

/// What waits for `actor`: deployments to approve, newest first, and
/// deployments waiting at a manual step, oldest first.
pub fn inbox_and_manual(
    conn: &mut PgConnection,
    actor: &Actor,
) -> QueryResult<(Vec<InboxItem>, Vec<ManualItem>)> {
    let scope = approvable(conn, actor)?;
    let manual = manual_waiting(conn, scope.as_deref())?;
    Ok((inbox_in(conn, actor, scope)?, manual))
}

/// Manual steps waiting in the environments of `scope` (all: `None`).
fn manual_waiting(conn: &mut PgConnection, scope: Option<&[i64]>) -> QueryResult<Vec<ManualItem>> {
    use crate::db::schema::deployment_steps;
    let mut query = deployment_steps::table
        .inner_join(deployments::table)
        .inner_join(
            environment_releases::table
                .on(environment_releases::id.eq(deployments::environment_release_id)),
        )
        .inner_join(environments::table.on(environments::id.eq(deployments::environment_id)))
        .inner_join(projects::table.on(projects::id.eq(environments::project_id)))
        .filter(deployments::status.eq(crate::domain::deployments::status::RUNNING))
        .filter(deployment_steps::kind.eq(crate::domain::states::StepKind::Manual))
        .filter(deployment_steps::status.eq(crate::domain::states::StepStatus::Running))
        .into_boxed();
    if let Some(ids) = scope {
        query = query.filter(deployments::environment_id.eq_any(ids.to_vec()));
    }
    type Row = (
        DeploymentId,
        i32,
        String,
        String,
        String,
        String,
        String,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = query
        .order((deployment_steps::started_at.asc(), deployments::id.asc()))
        .limit(200)
        .select((
            deployments::id,
            deployment_steps::position,
            deployment_steps::name,
            deployment_steps::instructions,
            projects::name,
            environments::name,
            environment_releases::version_label,
            deployment_steps::started_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                deployment_id,
                position,
                step,
                instructions,
                project_name,
                environment,
                label,
                since,
            )| {
                ManualItem {
                    deployment_id,
                    position,
                    step,
                    instructions,
                    project_name,
                    environment,
                    label,
                    since,
                }
            },
        )
        .collect())
}

/// What waits for `actor`'s approval, newest first.
pub fn inbox(conn: &mut PgConnection, actor: &Actor) -> QueryResult<Vec<InboxItem>> {
    let scope = approvable(conn, actor)?;
    inbox_in(conn, actor, scope)
}

fn inbox_in(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: Option<Vec<i64>>,
) -> QueryResult<Vec<InboxItem>> {
    let mut query = deployments::table
        .inner_join(releases::table)
        .inner_join(environment_releases::table)
        .inner_join(environments::table.on(environments::id.eq(deployments::environment_id)))
        .inner_join(projects::table.on(projects::id.eq(environments::project_id)))
        .left_join(users::table.on(deployments::requested_by.eq(users::id.nullable())))
        .filter(deployments::status.eq(crate::domain::deployments::status::AWAITING_APPROVAL))
        .into_boxed();
    if let Some(ids) = scope {
        query = query.filter(deployments::environment_id.eq_any(ids));
    }
    type Row = (
        Deployment,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = query
        .order((deployments::created_at.desc(), deployments::id.desc()))
        .limit(500)
        .select((
            Deployment::as_select(),
            projects::slug,
            projects::name,
            environments::name,
            releases::version,
            environment_releases::version_label,
            users::display_name.nullable(),
        ))
        .load(conn)?;
    let ids: Vec<DeploymentId> = rows.iter().map(|r| r.0.id).collect();
    let votes: Vec<(DeploymentId, UserId)> = approvals::table
        .filter(approvals::deployment_id.eq_any(&ids))
        .filter(approvals::decision.eq_any([DecisionKind::Approve, DecisionKind::Defer]))
        .select((approvals::deployment_id, approvals::approver_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(d, project, project_name, environment, version, label, requester)| InboxItem {
                approvals: votes.iter().filter(|v| v.0 == d.id).count() as i64,
                approved_by_me: votes
                    .iter()
                    .any(|v| v.0 == d.id && Some(v.1) == actor.user_id),
                deployment_id: d.id,
                project,
                project_name,
                environment,
                version,
                label,
                requested_by: requester,
                requested_by_id: d.requested_by,
                comment: d.comment,
                created_at: d.created_at,
                required: d.required_approvals,
            },
        )
        .collect())
}

/// The header's count: deployments waiting for `actor`'s approval, leaving
/// out those they already decided and those they asked for where
/// self-approval is off, and deployments stopped at a manual step where
/// they approve. One statement: the rule is the database's
/// `pending_approvals` function (migration 000034), which the session's
/// load calls too.
pub fn pending_count(conn: &mut PgConnection, actor: &Actor) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    if actor.user_id.is_none() && !actor.is_admin {
        return Ok(0);
    }
    crate::db::prepared(
        diesel::sql_query("SELECT pending_approvals($1, $2, NULL) AS n")
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(actor.user_id)
            .bind::<diesel::sql_types::Bool, _>(actor.is_admin),
    )
    .get_result::<Count>(conn)
    .map(|count| count.n)
}

/// The most the header's count counts; at the cap it shows "99+". The
/// database's `pending_approvals` counts up to the same number (a literal
/// there; `tests/app/approvals.rs` shows "99+" at the cap).
pub const PENDING_COUNT_CAP: i64 = 100;
