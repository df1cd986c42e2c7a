//! The worker's side: claiming a queued deployment under a lease,
//! renewing it, reaping those whose worker was lost, and recording how a
//! run ended (then asking for the next environment of a chain).

use super::*;
use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId};

#[derive(QueryableByName)]
pub(super) struct Candidate {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    environment_id: EnvironmentId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    project_id: ProjectId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    queue_policy: QueuePolicy,
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
        Err(err)
            if matches!(
                crate::db::violated_check(&err),
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
    deployment_id: DeploymentId,
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
pub(super) struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
pub(super) struct CancelFlag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    cancel_requested: bool,
}

/// Fails running deployments whose worker stopped renewing its lease (it
/// died): they are not silently rerun; a person redeploys them.
pub fn reap_expired(conn: &mut PgConnection) -> QueryResult<Vec<DeploymentId>> {
    conn.transaction(|conn| {
        let lost: Vec<(DeploymentId, EnvironmentId)> = diesel::update(
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
    /// The steps succeeded but the checks did not pass in time.
    FailedVerification(String),
    Cancelled(String),
}

/// Records how a running deployment ended, if it is still this worker's.
pub fn finish(
    conn: &mut PgConnection,
    worker: &str,
    deployment_id: DeploymentId,
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
    deployment_id: DeploymentId,
    outcome: &Outcome,
    lines: &[(Option<i32>, &'static str, String)],
    open_steps: bool,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let (status, steps, note) = match outcome {
            // A step still open when all went well was cut short.
            Outcome::Succeeded => (DeploymentStatus::Succeeded, StepStatus::Failed, ""),
            Outcome::Failed(note) | Outcome::FailedVerification(note) => {
                (DeploymentStatus::Failed, StepStatus::Failed, note.as_str())
            }
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
            deployments::failed_verification.eq(matches!(outcome, Outcome::FailedVerification(_))),
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
                    Outcome::Failed(_) | Outcome::FailedVerification(_) => "deployment.failed",
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
        if let Outcome::FailedVerification(note) = outcome {
            after_failed_verification(conn, worker, &done, note)?;
        }
        Ok(true)
    })
}
