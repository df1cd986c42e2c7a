//! Asking for a deployment (deploy, promote, redeploy, roll back, the
//! first one of a new release, the next step of a chain) and cancelling one:
//! the rights, the rules the database also holds, and their refusals.
//! Over 400 lines because `request` checks every rule of one request in its
//! one transaction, in the order a person reads the refusals; split, the
//! order and the lock would be spread over files.

use super::*;
use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId, ReleaseId};

/// Names of the environments from `from` to `to` (inclusive) of `pipeline`
/// where `actor` does not hold the deployer role.
pub(super) fn lacking_deployer<'p>(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
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
pub(super) fn names(list: &[&str]) -> String {
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
pub(super) fn person_refusal(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
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
pub(super) fn refusal_from_database(
    err: diesel::result::Error,
    version: &str,
    target: &str,
) -> DeployError {
    use diesel::result::{DatabaseErrorKind, Error};
    if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) = err {
        return DeployError::Refused(format!("{version} is already being deployed to {target}."));
    }
    match crate::db::violated_check(&err) {
        Some("deployments_requester_may_deploy") => DeployError::Denied(format!(
            "You need the deployer role on {target} to deploy there."
        )),
        Some("deployments_cause_matches_policy") => DeployError::Refused(format!(
            "{target} does not start deployments by itself that way."
        )),
        Some("deployments_superseded_by_newer") => DeployError::Refused(format!(
            "A newer release waits to be deployed to {target} and supersedes older ones there: \
             cancel it first to deploy {version}."
        )),
        Some("release_blocked") => DeployError::Refused(format!(
            "{version} is blocked: it goes nowhere new until it is unblocked."
        )),
        _ => err.into(),
    }
}

pub(super) fn succeeded_in(
    conn: &mut PgConnection,
    release_id: ReleaseId,
    environment_id: EnvironmentId,
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
    if let Some(block) = crate::domain::blocks::find(conn, release.id)?
        && !succeeded_in(conn, release.id, target.id)?
    {
        return Ok(Some(crate::domain::blocks::refusal(
            &release.version,
            &block,
        )));
    }
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
    environment_id: EnvironmentId,
) -> QueryResult<Option<(ReleaseId, DateTime<Utc>)>> {
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
    release_id: ReleaseId,
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
        if let Some(seen) = input.seen {
            // Under the release's row lock, so two sends of one form are
            // told apart whatever their timing.
            let newer: Option<DeploymentId> = deployments::table
                .filter(deployments::release_id.eq(release.id))
                .filter(deployments::environment_id.eq(target.id))
                .filter(deployments::id.gt(seen))
                .order(deployments::id.desc())
                .select(deployments::id)
                .first(conn)
                .optional()?;
            if let Some(newer) = newer {
                return Err(DeployError::Refused(format!(
                    "{} was asked for in {} since this page was loaded (deployment #{newer}), \
                     so nothing more was asked for. Look at it, then deploy again if you still mean to.",
                    release.version, target.name
                )));
            }
        }
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
        let entries: Vec<(EnvironmentId, i64, String)> = environment_releases::table
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
        let entry = |environment_id: EnvironmentId| {
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

        let is_rollback = input.rollback
            || match live_release(conn, target.id)? {
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
        // Soak time: it starts no earlier than that after its first
        // success in the previous environment (the database holds the
        // start to it; this says when).
        let not_before = match previous_id.filter(|_| target.soak_minutes > 0) {
            Some(previous) => {
                let succeeded: Option<DateTime<Utc>> = deployments::table
                    .filter(deployments::release_id.eq(release.id))
                    .filter(deployments::environment_id.eq(previous))
                    .filter(deployments::status.eq(status::SUCCEEDED))
                    .select(diesel::dsl::min(deployments::finished_at))
                    .first(conn)?;
                let soaked = succeeded
                    .map(|at| at + chrono::Duration::minutes(i64::from(target.soak_minutes)));
                match (input.not_before, soaked) {
                    (Some(asked), Some(soaked)) => Some(asked.max(soaked)),
                    (asked, soaked) => asked.or(soaked.filter(|s| *s > Utc::now())),
                }
            }
            None => input.not_before,
        };
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
                    Cause::AfterPrevious
                    | Cause::Schedule
                    | Cause::Verification
                    | Cause::Unrecorded => None,
                }),
                deployments::cause.eq(input.cause),
                deployments::not_before.eq(not_before),
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
pub(super) enum Requested {
    Made(Box<Deployment>),
    /// The person lacks a deployer role (in this project); the text says which.
    Denied(ProjectId, String),
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

/// Cancels a deployment: at once when it waits; a running one is stopped by
/// its worker, which then records it as cancelled. The caller has checked
/// the right to deploy there.
pub fn cancel(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
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
