//! Deployments: one attempt to run a release's steps in one environment.
//! Requesting one (deploy, promote, redeploy, roll back), and the worker's
//! side: claiming queued ones and recording how they ended. Every change of
//! state is one transaction with its audit event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::access::{self, Role};
use super::audit::{self, Actor, Event};
use super::environments::{self, Environment};
use super::releases::Release;
pub use super::states::{Cause, DeploymentStatus, StepKind, StepStatus};
use super::states::{QueuePolicy, Trigger};
use super::validation::{self, FieldErrors};
use crate::db::schema::environments as environments_table;
use crate::db::schema::{
    deployment_logs, deployment_steps, deployments, environment_releases, releases, users,
};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = deployments)]
pub struct Deployment {
    pub id: i64,
    pub environment_release_id: i64,
    pub release_id: i64,
    pub environment_id: i64,
    pub attempt: i32,
    pub status: DeploymentStatus,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<i64>,
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
    pub target_environment_id: Option<i64>,
    /// Break-glass: why a freeze or closed window may be overridden, who
    /// asked, and the second approver who confirmed.
    pub override_reason: Option<String>,
    pub override_requested_by: Option<i64>,
    pub override_confirmed_by: Option<i64>,
    /// Why it exists: a person asked, or the environment's own trigger.
    pub cause: Cause,
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
    pub environment_id: i64,
    /// The label in the target environment; empty keeps the previous one.
    pub version_label: String,
    pub comment: String,
    /// Start no earlier than this.
    pub not_before: Option<DateTime<Utc>>,
    /// Keep promoting after success, up to this environment.
    pub target_environment_id: Option<i64>,
    /// Who or what starts it; a person is the actor.
    pub cause: Cause,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the deploy form is not valid")]
    Invalid(FieldErrors),
    /// Not possible now; the text says why.
    #[error("{0}")]
    Refused(String),
    /// The person lacks a right this needs; the text names it.
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Names of the environments from `from` to `to` (inclusive) of `pipeline`
/// where `actor` does not hold the deployer role.
fn lacking_deployer<'p>(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: i64,
    pipeline: &'p [Environment],
    from: usize,
    to: usize,
) -> QueryResult<Vec<&'p str>> {
    let rights = access::project_access(conn, actor, project_id)?;
    Ok(pipeline[from..=to.max(from)]
        .iter()
        .filter(|e| !rights.has(e.id, Role::Deployer))
        .map(|e| e.name.as_str())
        .collect())
}

/// "A", "A and B", "A, B and C".
fn names(list: &[&str]) -> String {
    match list {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Checks that a person may deploy `release` into `pipeline[index]` and,
/// for "as far as", into every environment up to `far`: the rights a chain
/// will need are checked when it is asked for. Says what is missing, if
/// anything; the caller audits the refusal.
fn person_refusal(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: i64,
    pipeline: &[Environment],
    index: usize,
    far: Option<usize>,
) -> QueryResult<Option<String>> {
    let last = far.unwrap_or(index).max(index);
    let lacking = lacking_deployer(conn, actor, project_id, pipeline, index, last)?;
    if lacking.is_empty() {
        return Ok(None);
    }
    Ok(Some(if last == index {
        format!(
            "You need the deployer role on {} to deploy there.",
            pipeline[index].name
        )
    } else {
        format!(
            "You need the deployer role on {} to deploy as far as {}.",
            names(&lacking),
            pipeline[last].name
        )
    }))
}

/// The rules the database holds on a new deployment, as a refusal.
fn refusal_from_database(err: diesel::result::Error, version: &str, target: &str) -> DeployError {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            DeployError::Refused(format!("{version} is already being deployed to {target}."))
        }
        Error::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
            match info.constraint_name() {
                Some("deployments_requester_may_deploy") => DeployError::Denied(format!(
                    "You need the deployer role on {target} to deploy there."
                )),
                Some("deployments_cause_matches_policy") => DeployError::Refused(format!(
                    "{target} does not start deployments by itself that way."
                )),
                _ => DeployError::Db(Error::DatabaseError(
                    DatabaseErrorKind::CheckViolation,
                    info,
                )),
            }
        }
        other => other.into(),
    }
}

fn succeeded_in(
    conn: &mut PgConnection,
    release_id: i64,
    environment_id: i64,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        deployments::table
            .filter(deployments::release_id.eq(release_id))
            .filter(deployments::environment_id.eq(environment_id))
            .filter(deployments::status.eq(status::SUCCEEDED)),
    ))
    .get_result(conn)
}

/// Why `release` cannot enter `pipeline[index]` now, if it cannot. Rule 2:
/// success in the previous environment first; and one attempt at a time.
pub fn entry_blocker(
    conn: &mut PgConnection,
    release: &Release,
    pipeline: &[Environment],
    index: usize,
) -> QueryResult<Option<String>> {
    let target = &pipeline[index];
    if index > 0 && target.id != release.first_environment_id {
        let previous = &pipeline[index - 1];
        if !succeeded_in(conn, release.id, previous.id)? {
            return Ok(Some(format!(
                "{} has not succeeded in {} yet: it enters {} only after that.",
                release.version, previous.name, target.name
            )));
        }
    }
    let active: Option<DeploymentStatus> = deployments::table
        .filter(deployments::release_id.eq(release.id))
        .filter(deployments::environment_id.eq(target.id))
        .filter(deployments::status.eq_any(status::active()))
        .select(deployments::status)
        .first(conn)
        .optional()?;
    Ok(active.map(|status| {
        format!(
            "{} is already {} in {}.",
            release.version,
            status.words(),
            target.name
        )
    }))
}

/// The release live in an environment (the one of its newest successful
/// deployment): its id and when it was created.
pub fn live_release(
    conn: &mut PgConnection,
    environment_id: i64,
) -> QueryResult<Option<(i64, DateTime<Utc>)>> {
    deployments::table
        .inner_join(releases::table)
        .filter(deployments::environment_id.eq(environment_id))
        .filter(deployments::status.eq(status::SUCCEEDED))
        .order((
            deployments::finished_at.desc().nulls_last(),
            deployments::id.desc(),
        ))
        .select((releases::id, releases::created_at))
        .first(conn)
        .optional()
}

/// Requests a deployment of `release_id` into `input.environment_id`: the
/// next environment (a promotion, creating the environment release linked
/// to the previous one), or one it is already in (a redeploy, or a rollback
/// when a newer release is live there). The caller has checked the right to
/// deploy there.
pub fn request(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: i64,
    input: &DeployInput,
) -> Result<Deployment, DeployError> {
    let mut errors = FieldErrors::new();
    if input.comment.chars().count() > 2000 {
        errors.add("comment", "Use at most 2,000 characters.");
    } else if let Some(problem) = crate::input::text::line_problem(&input.comment) {
        errors.add("comment", problem);
    }
    let label_input = input.version_label.trim();
    if let Some(problem) = Some(label_input)
        .filter(|l| !l.is_empty())
        .and_then(validation::version_problem)
    {
        errors.add("version_label", problem);
    }
    errors.into_result().map_err(DeployError::Invalid)?;

    if input.cause == Cause::Person && actor.user_id.is_none() {
        return Err(DeployError::Denied(
            "Only a person can ask for a deployment.".to_owned(),
        ));
    }

    let requested = conn.transaction(|conn| -> Result<Requested, DeployError> {
        // Serialises with deletion and with other deploys of this release.
        let release: Release = releases::table
            .find(release_id)
            .select(Release::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or_else(|| DeployError::Refused("This release no longer exists.".to_owned()))?;
        let pipeline = environments::list(conn, release.project_id)?;
        let index = pipeline
            .iter()
            .position(|e| e.id == input.environment_id)
            .ok_or_else(|| {
                let mut errors = FieldErrors::new();
                errors.add("environment", "Choose an environment of this project.");
                DeployError::Invalid(errors)
            })?;
        let target = &pipeline[index];
        if input.cause == Cause::Person {
            // The database re-checks the target itself at insert; this
            // names what is missing, as far as the chain goes.
            let far = input
                .target_environment_id
                .and_then(|t| pipeline.iter().position(|e| e.id == t));
            let refusal = person_refusal(conn, actor, release.project_id, &pipeline, index, far)?;
            if let Some(message) = refusal {
                return Ok(Requested::Denied(release.project_id, message));
            }
        }
        if let Some(reason) = entry_blocker(conn, &release, &pipeline, index)? {
            return Err(DeployError::Refused(reason));
        }

        // This environment's entry, and the one it would be promoted from,
        // in one read.
        let previous_id = match index.checked_sub(1) {
            Some(prev) if target.id != release.first_environment_id => Some(pipeline[prev].id),
            _ => None,
        };
        let entries: Vec<(i64, i64, String)> = environment_releases::table
            .filter(environment_releases::release_id.eq(release.id))
            .filter(
                environment_releases::environment_id
                    .eq_any([Some(target.id), previous_id].into_iter().flatten()),
            )
            .select((
                environment_releases::environment_id,
                environment_releases::id,
                environment_releases::version_label,
            ))
            .load(conn)?;
        let entry = |environment_id: i64| {
            entries
                .iter()
                .find(|(env, _, _)| *env == environment_id)
                .map(|(_, id, label)| (*id, label.clone()))
        };
        let (environment_release_id, label, promoted) = match entry(target.id) {
            Some((id, label)) => (id, label, false),
            None => {
                let previous = previous_id.and_then(entry);
                let label = if label_input.is_empty() {
                    previous
                        .as_ref()
                        .map_or_else(|| release.version.clone(), |p| p.1.clone())
                } else {
                    label_input.to_owned()
                };
                let id: i64 = diesel::insert_into(environment_releases::table)
                    .values((
                        environment_releases::release_id.eq(release.id),
                        environment_releases::environment_id.eq(target.id),
                        environment_releases::version_label.eq(&label),
                        environment_releases::promoted_from.eq(previous.map(|p| p.0)),
                        environment_releases::created_by.eq(actor.user_id),
                    ))
                    .returning(environment_releases::id)
                    .get_result(conn)?;
                (id, label, true)
            }
        };

        let is_rollback = match live_release(conn, target.id)? {
            Some((live, live_created)) if live != release.id => {
                (live_created, live) > (release.created_at, release.id)
            }
            _ => false,
        };
        let attempt: i32 = deployments::table
            .filter(deployments::environment_release_id.eq(environment_release_id))
            .select(diesel::dsl::max(deployments::attempt))
            .first::<Option<i32>>(conn)?
            .unwrap_or(0)
            + 1;
        let far_target = match input.target_environment_id {
            Some(id) if id != target.id => {
                let far = pipeline.iter().position(|e| e.id == id);
                if far.is_none_or(|far| far < index) {
                    let mut errors = FieldErrors::new();
                    errors.add(
                        "target",
                        format!("Choose {} or an environment after it.", target.name),
                    );
                    return Err(DeployError::Invalid(errors));
                }
                Some(id)
            }
            _ => None,
        };
        let needs_approval = target.required_approvals > 0;
        let deployment = diesel::insert_into(deployments::table)
            .values((
                deployments::environment_release_id.eq(environment_release_id),
                deployments::release_id.eq(release.id),
                deployments::environment_id.eq(target.id),
                deployments::attempt.eq(attempt),
                deployments::status.eq(if needs_approval {
                    DeploymentStatus::AwaitingApproval
                } else {
                    DeploymentStatus::Queued
                }),
                deployments::is_rollback.eq(is_rollback),
                deployments::comment.eq(input.comment.trim()),
                deployments::requested_by.eq(match input.cause {
                    Cause::Person | Cause::OnRelease => actor.user_id,
                    Cause::AfterPrevious | Cause::Schedule | Cause::Unrecorded => None,
                }),
                deployments::cause.eq(input.cause),
                deployments::not_before.eq(input.not_before),
                deployments::required_approvals.eq(target.required_approvals),
                deployments::approval_deadline.eq(needs_approval.then(|| {
                    Utc::now() + chrono::Duration::hours(i64::from(target.approval_timeout_hours))
                })),
                deployments::target_environment_id.eq(far_target),
            ))
            .returning(Deployment::as_returning())
            .get_result(conn)
            .map_err(|err| refusal_from_database(err, &release.version, &target.name))?;
        audit::record(
            conn,
            actor,
            Event::new("deployment.requested", "deployment", deployment.id)
                .in_project(release.project_id)
                .details(json!({
                    "release": release.version,
                    "environment": target.name,
                    "version_label": label,
                    "attempt": attempt,
                    "promotion": promoted && index > 0,
                    "rollback": is_rollback,
                    "awaiting_approval": needs_approval,
                    "not_before": input.not_before.map(|t| t.to_rfc3339()),
                    "as_far_as": far_target,
                    "cause": input.cause.as_str(),
                })),
        )?;
        Ok(Requested::Made(Box::new(deployment)))
    })?;
    match requested {
        Requested::Made(deployment) => Ok(*deployment),
        Requested::Denied(project_id, message) => {
            // Written after the transaction, which only read: the refusal's
            // audit event is the one thing this request changes.
            audit::record(
                conn,
                actor,
                Event::new("access.denied", "project", project_id)
                    .in_project(project_id)
                    .details(json!({ "action": "deploy", "reason": message })),
            )?;
            Err(DeployError::Denied(message))
        }
    }
}

/// What [`request`]'s transaction ended with.
enum Requested {
    Made(Box<Deployment>),
    /// The person lacks a deployer role (in this project); the text says which.
    Denied(i64, String),
}

/// Queues the first deployment of a new release (trigger "on release
/// creation"), inside the caller's transaction.
pub fn queue_initial(
    conn: &mut PgConnection,
    actor: &Actor,
    release: &Release,
    environment_release_id: i64,
) -> QueryResult<Deployment> {
    let deployment = diesel::insert_into(deployments::table)
        .values((
            deployments::environment_release_id.eq(environment_release_id),
            deployments::release_id.eq(release.id),
            deployments::environment_id.eq(release.first_environment_id),
            deployments::attempt.eq(1),
            deployments::status.eq(DeploymentStatus::Queued),
            deployments::requested_by.eq(actor.user_id),
            deployments::cause.eq(Cause::OnRelease),
        ))
        .returning(Deployment::as_returning())
        .get_result(conn)?;
    audit::record(
        conn,
        actor,
        Event::new("deployment.requested", "deployment", deployment.id)
            .in_project(release.project_id)
            .details(json!({ "release": release.version, "trigger": "on_release", "attempt": 1 })),
    )?;
    Ok(deployment)
}

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    environment_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    project_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    queue_policy: QueuePolicy,
}

fn project_of(conn: &mut PgConnection, environment_id: i64) -> QueryResult<i64> {
    environments_table::table
        .find(environment_id)
        .select(environments_table::project_id)
        .first(conn)
}

/// The worker's claim: the oldest queued deployment whose environment runs
/// fewer than its limit, taken with `FOR UPDATE SKIP LOCKED` so any number
/// of workers can poll at once, and marked running under a lease. Where
/// the queue policy is "latest", older waiting deployments of that
/// environment are cancelled and the newest runs. A trigger holds the
/// limit, so racing workers cannot exceed it.
pub fn claim_next(
    conn: &mut PgConnection,
    worker: &str,
    lease: std::time::Duration,
) -> QueryResult<Option<Deployment>> {
    let lease_seconds = lease.as_secs_f64();
    let result = conn.transaction(|conn| {
        // The oldest queued deployment that may start, looked for among
        // the 16 oldest first (see deployment_claim_candidate).
        let candidate: Option<Candidate> =
            diesel::sql_query("SELECT * FROM deployment_claim_candidate()")
                .get_result(conn)
                .optional()?;
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let project_id = candidate.project_id;
        let worker_actor = Actor::worker(worker);
        let mut chosen = candidate.id;
        if candidate.queue_policy == QueuePolicy::Latest {
            // Only those that may start now compete: a deployment held by
            // a freeze, a closed window or its not-before time neither
            // runs nor supersedes the ones that may.
            let waiting: Vec<i64> = diesel::sql_query(
                "SELECT d.id FROM deployments d JOIN environments e ON e.id = d.environment_id
                  WHERE d.environment_id = $1 AND d.status = 'queued'
                    AND deployment_may_start(d, e, now())
                  ORDER BY d.created_at DESC, d.id DESC
                  FOR UPDATE OF d SKIP LOCKED",
            )
            .bind::<diesel::sql_types::BigInt, _>(candidate.environment_id)
            .load::<IdRow>(conn)?
            .into_iter()
            .map(|r| r.id)
            .collect();
            if let Some((&newest, older)) = waiting.split_first() {
                chosen = newest;
                for &id in older {
                    diesel::update(deployments::table.find(id))
                        .set((
                            deployments::status.eq(DeploymentStatus::Cancelled),
                            deployments::finished_at.eq(Utc::now()),
                            deployments::note.eq(format!(
                                "Superseded: only the latest waiting deployment runs (#{newest})."
                            )),
                        ))
                        .execute(conn)?;
                    audit::record(
                        conn,
                        &worker_actor,
                        Event::new("deployment.cancelled", "deployment", id)
                            .in_project(project_id)
                            .details(json!({ "reason": "superseded", "by": newest })),
                    )?;
                }
            }
        }
        let claimed: Deployment = diesel::sql_query(
            "UPDATE deployments
                SET status = 'running', started_at = now(), worker_id = $2,
                    lease_expires_at = now() + make_interval(secs => $3)
              WHERE id = $1
              RETURNING *",
        )
        .bind::<diesel::sql_types::BigInt, _>(chosen)
        .bind::<diesel::sql_types::Text, _>(worker)
        .bind::<diesel::sql_types::Double, _>(lease_seconds)
        .get_result(conn)?;
        audit::record(
            conn,
            &worker_actor,
            Event::new("deployment.started", "deployment", claimed.id).in_project(project_id),
        )?;
        Ok(Some(claimed))
    });
    match result {
        // Another worker filled the environment at the same instant, or a
        // freeze began between the choice and the start: the database
        // refused ours. Try again later.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            info,
        )) if matches!(
            info.constraint_name(),
            Some("deployments_max_running" | "deployments_start_allowed")
        ) =>
        {
            Ok(None)
        }
        other => other,
    }
}

/// Pushes the lease forward. `None`: the deployment is no longer this
/// worker's (it was reaped); otherwise whether a cancel was requested.
pub fn renew_lease(
    conn: &mut PgConnection,
    deployment_id: i64,
    worker: &str,
    lease: std::time::Duration,
) -> QueryResult<Option<bool>> {
    diesel::sql_query(
        "UPDATE deployments SET lease_expires_at = now() + make_interval(secs => $3)
          WHERE id = $1 AND worker_id = $2 AND status = 'running'
          RETURNING cancel_requested",
    )
    .bind::<diesel::sql_types::BigInt, _>(deployment_id)
    .bind::<diesel::sql_types::Text, _>(worker)
    .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
    .get_result::<CancelFlag>(conn)
    .optional()
    .map(|flag| flag.map(|f| f.cancel_requested))
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct CancelFlag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    cancel_requested: bool,
}

/// Fails running deployments whose worker stopped renewing its lease (it
/// died): they are not silently rerun; a person redeploys them.
pub fn reap_expired(conn: &mut PgConnection) -> QueryResult<Vec<i64>> {
    conn.transaction(|conn| {
        let lost: Vec<(i64, i64)> = diesel::update(
            deployments::table
                .filter(deployments::status.eq(DeploymentStatus::Running))
                .filter(deployments::lease_expires_at.lt(Utc::now())),
        )
        .set((
            deployments::status.eq(DeploymentStatus::Failed),
            deployments::finished_at.eq(Utc::now()),
            deployments::note
                .eq("Worker lost: it stopped renewing its lease. Redeploy to try again."),
        ))
        .returning((deployments::id, deployments::environment_id))
        .get_results(conn)?;
        for (id, environment_id) in &lost {
            close_steps(conn, *id, StepStatus::Failed, "worker lost")?;
            let project_id = project_of(conn, *environment_id)?;
            audit::record(
                conn,
                &Actor::system(),
                Event::new("deployment.failed", "deployment", id)
                    .in_project(project_id)
                    .details(json!({ "reason": "worker lost" })),
            )?;
        }
        Ok(lost.into_iter().map(|(id, _)| id).collect())
    })
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
    Cancelled(String),
}

/// Records how a running deployment ended, if it is still this worker's.
pub fn finish(
    conn: &mut PgConnection,
    worker: &str,
    deployment_id: i64,
    outcome: &Outcome,
) -> QueryResult<bool> {
    finish_with_log(conn, worker, deployment_id, outcome, &[], false)
}

/// [`finish`], with the last lines of the log and (when `open_steps`) the
/// steps left open closed as [`close_steps`] does, in the same transaction:
/// one commit and one new version of the deployment's row to end a run.
/// The lines and steps are recorded even when the deployment is no longer
/// this worker's.
pub fn finish_with_log(
    conn: &mut PgConnection,
    worker: &str,
    deployment_id: i64,
    outcome: &Outcome,
    lines: &[(Option<i32>, &'static str, String)],
    open_steps: bool,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let (status, steps, note) = match outcome {
            // A step still open when all went well was cut short.
            Outcome::Succeeded => (DeploymentStatus::Succeeded, StepStatus::Failed, ""),
            Outcome::Failed(note) => (DeploymentStatus::Failed, StepStatus::Failed, note.as_str()),
            Outcome::Cancelled(note) => (
                DeploymentStatus::Cancelled,
                StepStatus::Cancelled,
                note.as_str(),
            ),
        };
        let bytes = insert_log_lines(conn, deployment_id, lines)?;
        if open_steps {
            close_steps(conn, deployment_id, steps, note)?;
        }
        let done: Option<Deployment> = diesel::update(
            deployments::table
                .find(deployment_id)
                .filter(deployments::status.eq(DeploymentStatus::Running))
                .filter(deployments::worker_id.eq(worker)),
        )
        .set((
            deployments::status.eq(status),
            deployments::finished_at.eq(Utc::now()),
            deployments::note.eq(note),
            deployments::lease_expires_at.eq(None::<DateTime<Utc>>),
            deployments::log_bytes.eq(deployments::log_bytes + bytes),
        ))
        .returning(Deployment::as_returning())
        .get_result(conn)
        .optional()?;
        let Some(done) = done else {
            add_log_bytes(conn, deployment_id, bytes)?;
            return Ok(false);
        };
        let project_id = project_of(conn, done.environment_id)?;
        if *outcome == Outcome::Succeeded {
            promote_onwards(conn, &done, project_id)?;
        }
        audit::record(
            conn,
            &Actor::worker(worker),
            Event::new(
                match outcome {
                    Outcome::Succeeded => "deployment.succeeded",
                    Outcome::Failed(_) => "deployment.failed",
                    Outcome::Cancelled(_) => "deployment.cancelled",
                },
                "deployment",
                deployment_id,
            )
            .in_project(project_id)
            .details(if note.is_empty() {
                json!({})
            } else {
                json!({ "note": note })
            }),
        )?;
        Ok(true)
    })
}

/// After a success: request the next environment when this deployment
/// goes "as far as" a later one, or when the next environment deploys
/// automatically after success in this one. Each goes through the next
/// environment's own approvals and window.
///
/// A chain step is the originator's request, made in their name: their
/// rights are read again here, so a right revoked (or an account disabled)
/// mid-chain stops the chain, with a note on this deployment.
fn promote_onwards(conn: &mut PgConnection, done: &Deployment, project_id: i64) -> QueryResult<()> {
    let deployment_id = done.id;
    let pipeline = environments::list(conn, project_id)?;
    let Some(index) = pipeline.iter().position(|e| e.id == done.environment_id) else {
        return Ok(());
    };
    let Some(next) = pipeline.get(index + 1) else {
        return Ok(());
    };
    let far = done
        .target_environment_id
        .and_then(|t| pipeline.iter().position(|e| e.id == t))
        .filter(|far| *far > index);
    let automatic = next.trigger == Trigger::AfterPrevious;
    if let (Some(far), Some(originator)) = (far, done.requested_by) {
        let person = super::users::find(conn, originator)?;
        let stopped = match &person {
            Some(user) if !user.disabled => {
                let actor = Actor::user(user.id, user.username.clone(), user.is_admin, None);
                let lacking =
                    lacking_deployer(conn, &actor, project_id, &pipeline, index + 1, far)?;
                if lacking.is_empty() {
                    let input = DeployInput {
                        environment_id: next.id,
                        comment: format!("Continuing towards {}.", pipeline[far].name),
                        target_environment_id: Some(pipeline[far].id),
                        cause: Cause::Person,
                        ..Default::default()
                    };
                    return settle(
                        deployment_id,
                        request(conn, &actor, done.release_id, &input),
                    );
                }
                format!(
                    "Stopped before {}: {} no longer holds the deployer role on {}.",
                    next.name,
                    user.display_name,
                    names(&lacking)
                )
            }
            _ => format!(
                "Stopped before {}: the account that asked for it is disabled.",
                next.name
            ),
        };
        diesel::update(deployments::table.find(deployment_id))
            .set(deployments::note.eq(&stopped))
            .execute(conn)?;
        audit::record(
            conn,
            &Actor::system(),
            Event::new("deployment.chain_stopped", "deployment", deployment_id)
                .in_project(project_id)
                .details(json!({ "reason": stopped, "towards": pipeline[far].name })),
        )?;
    }
    if !automatic {
        return Ok(());
    }
    let input = DeployInput {
        environment_id: next.id,
        comment: format!("Automatic after success in {}.", pipeline[index].name),
        cause: Cause::AfterPrevious,
        ..Default::default()
    };
    let actor = Actor {
        name: "automatic".to_owned(),
        ..Actor::system()
    };
    settle(
        deployment_id,
        request(conn, &actor, done.release_id, &input),
    )
}

/// A follow-on request that could not be made is not an error of the
/// deployment that succeeded: it is already on its way, or not allowed.
fn settle(deployment_id: i64, result: Result<Deployment, DeployError>) -> QueryResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(DeployError::Db(err)) => Err(err),
        Err(other) => {
            tracing::info!(deployment = deployment_id, "not promoting onwards: {other}");
            Ok(())
        }
    }
}

/// Cancels a deployment: at once when it waits; a running one is stopped by
/// its worker, which then records it as cancelled. The caller has checked
/// the right to deploy there.
pub fn cancel(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: i64,
) -> Result<&'static str, DeployError> {
    conn.transaction(|conn| {
        let deployment: Deployment = deployments::table
            .find(deployment_id)
            .select(Deployment::as_select())
            .for_update()
            .first(conn)?;
        let project_id = project_of(conn, deployment.environment_id)?;
        match deployment.status {
            DeploymentStatus::AwaitingApproval | DeploymentStatus::Queued => {
                diesel::update(deployments::table.find(deployment_id))
                    .set((
                        deployments::status.eq(DeploymentStatus::Cancelled),
                        deployments::finished_at.eq(Utc::now()),
                        deployments::note.eq(format!("Cancelled by {}.", actor.name)),
                    ))
                    .execute(conn)?;
                audit::record(
                    conn,
                    actor,
                    Event::new("deployment.cancelled", "deployment", deployment_id)
                        .in_project(project_id),
                )?;
                Ok("Cancelled.")
            }
            DeploymentStatus::Running => {
                diesel::update(deployments::table.find(deployment_id))
                    .set(deployments::cancel_requested.eq(true))
                    .execute(conn)?;
                audit::record(
                    conn,
                    actor,
                    Event::new("deployment.cancel_requested", "deployment", deployment_id)
                        .in_project(project_id),
                )?;
                Ok("Stopping: the running step is being stopped.")
            }
            other => Err(DeployError::Refused(format!(
                "It has already {}.",
                other.words()
            ))),
        }
    })
}

/// Records the steps a run will take, all pending.
pub fn plan_steps(
    conn: &mut PgConnection,
    deployment_id: i64,
    steps: &[(String, StepKind)],
) -> QueryResult<()> {
    let rows: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            (
                deployment_steps::deployment_id.eq(deployment_id),
                deployment_steps::position.eq(i as i32),
                deployment_steps::name.eq(name.clone()),
                deployment_steps::kind.eq(*kind),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(deployment_steps::table)
            .values(rows)
            .execute(conn)?;
    }
    Ok(())
}

/// Moves one step to `status` (running stamps the start, others the end).
pub fn set_step(
    conn: &mut PgConnection,
    deployment_id: i64,
    position: i32,
    status: StepStatus,
    detail: &str,
) -> QueryResult<()> {
    let target = deployment_steps::table
        .filter(deployment_steps::deployment_id.eq(deployment_id))
        .filter(deployment_steps::position.eq(position));
    if status == StepStatus::Running {
        diesel::update(target)
            .set((
                deployment_steps::status.eq(status),
                deployment_steps::started_at.eq(Utc::now()),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                deployment_steps::status.eq(status),
                deployment_steps::finished_at.eq(Utc::now()),
                deployment_steps::detail.eq(detail),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Closes whatever steps are still open: running ones get `status`,
/// pending ones are skipped.
pub fn close_steps(
    conn: &mut PgConnection,
    deployment_id: i64,
    status: StepStatus,
    detail: &str,
) -> QueryResult<()> {
    let open = deployment_steps::table.filter(deployment_steps::deployment_id.eq(deployment_id));
    diesel::update(open.filter(deployment_steps::status.eq(StepStatus::Running)))
        .set((
            deployment_steps::status.eq(status),
            deployment_steps::finished_at.eq(Utc::now()),
            deployment_steps::detail.eq(detail),
        ))
        .execute(conn)?;
    diesel::update(open.filter(deployment_steps::status.eq("pending")))
        .set(deployment_steps::status.eq("skipped"))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = deployment_steps)]
pub struct StepRun {
    pub position: i32,
    pub name: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub detail: String,
}

impl StepRun {
    /// Seconds it took (so far, if still running).
    pub fn duration(&self) -> Option<String> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or_else(Utc::now);
        let secs = (end - start).num_milliseconds() as f64 / 1000.0;
        Some(if secs < 60.0 {
            format!("{secs:.1} s")
        } else {
            format!("{}m {:02}s", secs as i64 / 60, secs as i64 % 60)
        })
    }
}

pub fn step_runs(conn: &mut PgConnection, deployment_id: i64) -> QueryResult<Vec<StepRun>> {
    deployment_steps::table
        .filter(deployment_steps::deployment_id.eq(deployment_id))
        .order(deployment_steps::position.asc())
        .select(StepRun::as_select())
        .load(conn)
}

/// One line of a deployment's log.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = deployment_logs)]
pub struct LogLine {
    pub id: i64,
    pub step_position: Option<i32>,
    pub stream: String,
    pub at: DateTime<Utc>,
    pub line: String,
}

/// Appends lines (already masked and within the cap) in one insert.
pub fn append_log(
    conn: &mut PgConnection,
    deployment_id: i64,
    lines: &[(Option<i32>, &'static str, String)],
) -> QueryResult<()> {
    let bytes = insert_log_lines(conn, deployment_id, lines)?;
    add_log_bytes(conn, deployment_id, bytes)
}

fn add_log_bytes(conn: &mut PgConnection, deployment_id: i64, bytes: i64) -> QueryResult<()> {
    if bytes > 0 {
        diesel::update(deployments::table.find(deployment_id))
            .set(deployments::log_bytes.eq(deployments::log_bytes + bytes))
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts the lines; returns the bytes they add to the log's size.
fn insert_log_lines(
    conn: &mut PgConnection,
    deployment_id: i64,
    lines: &[(Option<i32>, &'static str, String)],
) -> QueryResult<i64> {
    if lines.is_empty() {
        return Ok(0);
    }
    let bytes: i64 = lines.iter().map(|l| l.2.len() as i64 + 1).sum();
    let rows: Vec<_> = lines
        .iter()
        .map(|(step, stream, line)| {
            (
                deployment_logs::deployment_id.eq(deployment_id),
                deployment_logs::step_position.eq(*step),
                deployment_logs::stream.eq(*stream),
                deployment_logs::line.eq(line.as_str()),
            )
        })
        .collect();
    diesel::insert_into(deployment_logs::table)
        .values(rows)
        .execute(conn)?;
    Ok(bytes)
}

/// Lines after `after` (an id), oldest first, at most `limit`.
pub fn log_after(
    conn: &mut PgConnection,
    deployment_id: i64,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<LogLine>> {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment_id))
        .filter(deployment_logs::id.gt(after))
        .order(deployment_logs::id.asc())
        .limit(limit)
        .select(LogLine::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, deployment_id: i64) -> QueryResult<Option<Deployment>> {
    deployments::table
        .find(deployment_id)
        .select(Deployment::as_select())
        .first(conn)
        .optional()
}

/// A deployment as history shows it.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub id: i64,
    pub release_id: i64,
    pub version: String,
    pub label: String,
    pub environment_id: i64,
    pub attempt: i32,
    pub status: DeploymentStatus,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<String>,
    /// The person who asked (for a chain, its originator); compare by id.
    pub requested_by_id: Option<i64>,
    pub cause: Cause,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub note: String,
    pub not_before: Option<DateTime<Utc>>,
    /// It ran through a freeze or closed window by break-glass.
    pub is_override: bool,
    /// "Deploy as far as": the environment it heads for.
    pub target_environment_id: Option<i64>,
}

impl DeploymentView {
    pub fn status_text(&self) -> &'static str {
        self.status.words()
    }

    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }
}

type ViewRow = (Deployment, String, String, Option<String>);

fn to_view((d, version, label, requester): ViewRow) -> DeploymentView {
    DeploymentView {
        id: d.id,
        release_id: d.release_id,
        version,
        label,
        environment_id: d.environment_id,
        attempt: d.attempt,
        status: d.status,
        is_rollback: d.is_rollback,
        comment: d.comment,
        requested_by: requester,
        requested_by_id: d.requested_by,
        cause: d.cause,
        created_at: d.created_at,
        finished_at: d.finished_at,
        note: d.note,
        not_before: d.not_before,
        is_override: d.override_confirmed_by.is_some(),
        target_environment_id: d.target_environment_id,
    }
}

/// Which deployments a history view shows.
enum Scope {
    /// Every deployment of one release, oldest first.
    Release(i64),
    /// What waits or runs in an environment, oldest first.
    Active(i64),
    /// An environment's deployments, newest first, before a cursor.
    History(i64, Option<Cursor>),
    /// The newest successful deployment in an environment.
    LastSuccess(i64),
}

/// One query shape for every history view: the deployment with its
/// release's version, its label and who asked for it.
fn load_views(conn: &mut PgConnection, scope: Scope, limit: i64) -> QueryResult<Vec<ViewRow>> {
    let mut query = deployments::table
        .inner_join(releases::table)
        .inner_join(environment_releases::table)
        .left_join(users::table.on(deployments::requested_by.eq(users::id.nullable())))
        .select((
            Deployment::as_select(),
            releases::version,
            environment_releases::version_label,
            users::display_name.nullable(),
        ))
        .into_boxed();
    query = match scope {
        Scope::Release(id) => query
            .filter(deployments::release_id.eq(id))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::Active(env) => query
            .filter(deployments::environment_id.eq(env))
            .filter(deployments::status.eq_any(status::active()))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::History(env, before) => {
            let query = query.filter(deployments::environment_id.eq(env));
            let query = match before {
                // `created_at <= c` starts the index scan at the cursor
                // (deployments_environment_idx).
                Some(c) => query
                    .filter(deployments::created_at.le(c.created_at))
                    .filter(
                        deployments::created_at
                            .lt(c.created_at)
                            .or(deployments::created_at
                                .eq(c.created_at)
                                .and(deployments::id.lt(c.id))),
                    ),
                None => query,
            };
            query.order((deployments::created_at.desc(), deployments::id.desc()))
        }
        Scope::LastSuccess(env) => query
            .filter(deployments::environment_id.eq(env))
            .filter(deployments::status.eq(status::SUCCEEDED))
            .order((
                deployments::finished_at.desc().nulls_last(),
                deployments::id.desc(),
            )),
    };
    crate::db::limited(query, limit).load(conn)
}

/// Generous bound for lists that are short by nature (one release's
/// attempts).
const UNPAGED: i64 = 1000;

/// Every deployment of one release, oldest first.
pub fn for_release(conn: &mut PgConnection, release_id: i64) -> QueryResult<Vec<DeploymentView>> {
    Ok(load_views(conn, Scope::Release(release_id), UNPAGED)?
        .into_iter()
        .map(to_view)
        .collect())
}

/// What is awaiting approval, queued or running in an environment, oldest
/// first: at most `shown`, and whether more wait behind them. A queue can
/// grow while workers are away, and the page must not grow with it.
pub fn active_in(
    conn: &mut PgConnection,
    environment_id: i64,
    shown: i64,
) -> QueryResult<(Vec<DeploymentView>, bool)> {
    let mut active: Vec<DeploymentView> =
        load_views(conn, Scope::Active(environment_id), shown + 1)?
            .into_iter()
            .map(to_view)
            .collect();
    let more = active.len() as i64 > shown;
    active.truncate(usize::try_from(shown).unwrap_or(0));
    Ok((active, more))
}

/// The deployment that made the live release live.
pub fn last_success_in(
    conn: &mut PgConnection,
    environment_id: i64,
) -> QueryResult<Option<DeploymentView>> {
    Ok(load_views(conn, Scope::LastSuccess(environment_id), 1)?
        .into_iter()
        .map(to_view)
        .next())
}

/// A place in a newest-first list: (created_at, id) of the last row shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}-{}", self.created_at.timestamp_micros(), self.id)
    }

    pub fn decode(value: &str) -> Option<Self> {
        let (micros, id) = value.split_once('-')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// One page of an environment's history, newest first, keyset-paginated.
pub fn history(
    conn: &mut PgConnection,
    environment_id: i64,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<(Vec<DeploymentView>, Option<Cursor>)> {
    let mut rows = load_views(conn, Scope::History(environment_id, before), limit + 1)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor {
            created_at: r.0.created_at,
            id: r.0.id,
        })
    } else {
        None
    };
    Ok((rows.into_iter().map(to_view).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("nonsense"), None);
        assert_eq!(Cursor::decode("1-x"), None);
    }
}
