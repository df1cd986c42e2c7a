//! Verification: after its steps succeed, a deployment runs the checks of
//! its snapshot (the worker's `verify`). This holds what the database
//! records of it: that verifying began, and, in the transaction that ends
//! a deployment whose checks failed, what follows: the release is blocked
//! by Stagecoach (it goes nowhere new until a person unblocks it), and
//! where the environment's policy asks, the last release that succeeded
//! there is requested again as a rollback.

use super::*;
use crate::domain::blocks;

/// Marks a running deployment of `worker` as verifying; false when it is
/// no longer this worker's (cancelled, reaped).
pub fn start_verifying(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    worker: &str,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let started: Option<Deployment> = diesel::update(
            deployments::table
                .find(deployment_id)
                .filter(deployments::status.eq(status::RUNNING))
                .filter(deployments::worker_id.eq(worker))
                .filter(deployments::verifying_since.is_null()),
        )
        .set(deployments::verifying_since.eq(Utc::now()))
        .returning(Deployment::as_returning())
        .get_result(conn)
        .optional()?;
        let Some(started) = started else {
            return Ok(false);
        };
        let project_id = project_of(conn, started.environment_id)?;
        audit::record(
            conn,
            &Actor::worker(worker),
            Event::new("deployment.verifying", "deployment", deployment_id).in_project(project_id),
        )?;
        Ok(true)
    })
}

/// How a failed verification's note begins (then the evidence).
pub const VERIFICATION_FAILED: &str = "Verification failed: ";

/// Longest block reason the database keeps.
const MAX_REASON: usize = 2000;

/// What follows a failed verification, inside the transaction that
/// recorded it; adds what happened to the deployment's note.
pub(super) fn after_failed_verification(
    conn: &mut PgConnection,
    worker: &str,
    done: &Deployment,
    note: &str,
) -> QueryResult<()> {
    let actor = Actor::worker(worker);
    let environment: Environment = environments_table::table
        .find(done.environment_id)
        .select(Environment::as_select())
        .first(conn)?;
    let version: String = releases::table
        .find(done.release_id)
        .select(releases::version)
        .first(conn)?;
    // The block says where; the note's own "Verification failed" would say
    // it twice.
    let evidence = note.strip_prefix(VERIFICATION_FAILED).unwrap_or(note);
    let reason: String = format!("Failed verification in {}: {evidence}", environment.name)
        .chars()
        .take(MAX_REASON)
        .collect();
    let mut said = Vec::new();
    if blocks::block_failed(conn, &actor, done.release_id, &reason)?.is_some() {
        said.push(format!(
            "Stagecoach blocked {version}: it goes nowhere new until someone unblocks it."
        ));
    }
    if environment.rollback_on_failed_verification && !done.is_rollback {
        said.push(roll_back(conn, &actor, done, &environment, &version)?);
    }
    if !said.is_empty() {
        let note = format!("{note} {}", said.join(" "));
        diesel::update(deployments::table.find(done.id))
            .set(deployments::note.eq(note))
            .execute(conn)?;
    }
    Ok(())
}

/// Requests the last release that succeeded in the environment, other than
/// the failed one, as a rollback; says how that went.
fn roll_back(
    conn: &mut PgConnection,
    actor: &Actor,
    done: &Deployment,
    environment: &Environment,
    version: &str,
) -> QueryResult<String> {
    let previous: Option<(ReleaseId, String)> = deployments::table
        .inner_join(releases::table)
        .filter(deployments::environment_id.eq(environment.id))
        .filter(deployments::status.eq(status::SUCCEEDED))
        .filter(deployments::release_id.ne(done.release_id))
        .order((
            deployments::finished_at.desc().nulls_last(),
            deployments::id.desc(),
        ))
        .select((releases::id, releases::version))
        .first(conn)
        .optional()?;
    let Some((release_id, previous)) = previous else {
        return Ok(format!(
            "No earlier release succeeded in {}, so there was nothing to roll back to.",
            environment.name
        ));
    };
    let input = DeployInput {
        environment_id: environment.id,
        comment: format!("Automatic rollback: {version} failed verification."),
        cause: Cause::Verification,
        rollback: true,
        ..DeployInput::default()
    };
    Ok(match request(conn, actor, release_id, &input) {
        Ok(rollback) => format!(
            "Rolling back to {previous}: deployment #{} ({}).",
            rollback.id,
            rollback.status.words()
        ),
        Err(DeployError::Refused(why) | DeployError::Denied(why)) => {
            format!("Rolling back to {previous} was refused: {why}")
        }
        Err(DeployError::Invalid(errors)) => format!(
            "Rolling back to {previous} was refused: {}",
            errors.summary()
        ),
        Err(DeployError::NotFound) => {
            format!("Rolling back to {previous} was refused: it no longer exists.")
        }
        Err(DeployError::Db(err)) => return Err(err),
    })
}
