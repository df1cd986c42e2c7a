//! "Do not promote": a person who deploys or approves in an environment a
//! release reached may block it with a reason. While blocked, the release
//! enters no environment it has not already succeeded in, by any path (a
//! trigger holds it: `release_blocks` migration); blocking cancels what of
//! it waits or is queued for such environments, in the same transaction.
//! Someone with the same right unblocks it. Both are audited.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::access::{self, Role};
use super::audit::{self, Actor, Event};
use super::deployments::status;
use super::ids::{DeploymentId, EnvironmentId, ReleaseId, UserId};
use super::rejection::Rejection;
use super::releases::Release;
use super::states::DeploymentStatus;
use super::validation::FieldErrors;
use crate::db::schema::{
    deployments as deployments_table, environment_releases, release_blocks, releases,
};

/// A block that holds, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Block {
    pub reason: String,
    pub by: String,
    /// `None`: Stagecoach blocked it (the release failed verification).
    pub by_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// Who a block made by Stagecoach itself is shown as.
pub const STAGECOACH: &str = "Stagecoach";

pub const MAX_REASON_CHARS: usize = 2000;

/// The environments `release` reached: where its blockers must hold a role.
fn reached(conn: &mut PgConnection, release_id: ReleaseId) -> QueryResult<Vec<EnvironmentId>> {
    environment_releases::table
        .filter(environment_releases::release_id.eq(release_id))
        .select(environment_releases::environment_id)
        .load(conn)
}

/// May `access` block or unblock a release that reached `reached`: the
/// deployer or approver role on one of them.
pub fn may_block(access: &access::ProjectAccess, reached: &[EnvironmentId]) -> bool {
    reached
        .iter()
        .any(|env| access.has(*env, Role::Deployer) || access.has(*env, Role::Approver))
}

const NEEDS: &str =
    "Blocking a release needs the deployer or approver role on an environment it reached.";

/// Locks the release and checks the actor's right on it.
fn open(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: ReleaseId,
) -> Result<Release, Rejection> {
    let release: Release = releases::table
        .find(release_id)
        .select(Release::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or(Rejection::NotFound)?;
    let rights = access::project_access(conn, actor, release.project_id)?;
    if !may_block(&rights, &reached(conn, release.id)?) {
        return Err(Rejection::Denied(NEEDS.to_owned()));
    }
    Ok(release)
}

/// Blocks the release with `reason`, cancelling what of it waits or is
/// queued for an environment it has not succeeded in. Returns those.
pub fn block(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: ReleaseId,
    reason: &str,
) -> Result<Vec<DeploymentId>, Rejection> {
    let reason = reason.trim();
    let Some(user_id) = actor.user_id else {
        return Err(Rejection::Denied(
            "Only a person can block a release.".to_owned(),
        ));
    };
    conn.transaction(|conn| {
        // The right first: someone who may not block learns nothing more.
        let release = open(conn, actor, release_id)?;
        let mut errors = FieldErrors::new();
        if reason.is_empty() {
            errors.add("reason", "Say why it must not go further.");
        } else if reason.chars().count() > MAX_REASON_CHARS {
            errors.add("reason", "Use at most 2,000 characters.");
        } else if let Some(problem) = crate::input::text::lines_problem(reason) {
            errors.add("reason", problem);
        }
        errors.into_result().map_err(Rejection::Invalid)?;
        hold(conn, actor, &release, reason, Some(user_id))?
            .ok_or_else(|| Rejection::Refused(format!("{} is already blocked.", release.version)))
    })
}

/// Stagecoach blocks a release that failed verification, inside the
/// caller's transaction (the deployment's end): a person looks before it
/// goes anywhere new. Nothing changes when it is already blocked.
pub fn block_failed(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: ReleaseId,
    reason: &str,
) -> QueryResult<Option<Vec<DeploymentId>>> {
    let release: Release = releases::table
        .find(release_id)
        .select(Release::as_select())
        .for_update()
        .first(conn)?;
    hold(conn, actor, &release, reason, None)
}

/// Writes the block (by `by`, or by Stagecoach when `None`) and its audit
/// event, and cancels what of the release waits or is queued where it never
/// succeeded. `None` when a block already held. The release row is locked.
fn hold(
    conn: &mut PgConnection,
    actor: &Actor,
    release: &Release,
    reason: &str,
    by: Option<UserId>,
) -> QueryResult<Option<Vec<DeploymentId>>> {
    let inserted = diesel::insert_into(release_blocks::table)
        .values((
            release_blocks::release_id.eq(release.id),
            release_blocks::reason.eq(reason),
            release_blocks::blocked_by.eq(by),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 0 {
        return Ok(None);
    }
    audit::record(
        conn,
        actor,
        Event::new("release.blocked", "release", &release.version)
            .in_project(release.project_id)
            .details(json!({ "reason": reason })),
    )?;
    // What waits or is queued where it never succeeded goes no further.
    let succeeded_here: Vec<EnvironmentId> = deployments_table::table
        .filter(deployments_table::release_id.eq(release.id))
        .filter(deployments_table::status.eq(status::SUCCEEDED))
        .select(deployments_table::environment_id)
        .distinct()
        .load(conn)?;
    let who = if by.is_some() {
        actor.name.as_str()
    } else {
        STAGECOACH
    };
    let cancelled: Vec<DeploymentId> = diesel::update(
        deployments_table::table
            .filter(deployments_table::release_id.eq(release.id))
            .filter(
                deployments_table::status
                    .eq_any([DeploymentStatus::AwaitingApproval, DeploymentStatus::Queued]),
            )
            .filter(deployments_table::environment_id.ne_all(succeeded_here)),
    )
    .set((
        deployments_table::status.eq(DeploymentStatus::Cancelled),
        deployments_table::finished_at.eq(Utc::now()),
        deployments_table::note.eq(format!(
            "Cancelled: {who} blocked {}: {reason}",
            release.version
        )),
    ))
    .returning(deployments_table::id)
    .get_results(conn)?;
    for id in &cancelled {
        audit::record(
            conn,
            actor,
            Event::new("deployment.cancelled", "deployment", id)
                .in_project(release.project_id)
                .details(json!({ "because": "release blocked" })),
        )?;
    }
    Ok(Some(cancelled))
}

/// Lifts the block.
pub fn unblock(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: ReleaseId,
) -> Result<(), Rejection> {
    conn.transaction(|conn| {
        let release = open(conn, actor, release_id)?;
        let lifted: Option<String> = diesel::delete(release_blocks::table.find(release.id))
            .returning(release_blocks::reason)
            .get_result(conn)
            .optional()?;
        let Some(reason) = lifted else {
            return Err(Rejection::Refused(format!(
                "{} is not blocked.",
                release.version
            )));
        };
        audit::record(
            conn,
            actor,
            Event::new("release.unblocked", "release", &release.version)
                .in_project(release.project_id)
                .details(json!({ "was": reason })),
        )?;
        Ok(())
    })
}

/// The refusal a deployment of a blocked release meets.
pub fn refusal(version: &str, block: &Block) -> String {
    format!(
        "{version} is blocked by {}: {} It goes nowhere new until it is unblocked.",
        block.by,
        sentence(&block.reason)
    )
}

/// The reason as a sentence, ending with its stop.
fn sentence(reason: &str) -> String {
    if reason.ends_with(['.', '!', '?']) {
        reason.to_owned()
    } else {
        format!("{reason}.")
    }
}

/// The block on `release_id`, if one holds.
pub fn find(conn: &mut PgConnection, release_id: ReleaseId) -> QueryResult<Option<Block>> {
    use crate::db::schema::users;
    release_blocks::table
        .left_join(users::table.on(release_blocks::blocked_by.eq(users::id.nullable())))
        .filter(release_blocks::release_id.eq(release_id))
        .select((
            release_blocks::reason,
            users::display_name.nullable(),
            users::id.nullable(),
            release_blocks::blocked_at,
        ))
        .first::<(String, Option<String>, Option<UserId>, DateTime<Utc>)>(conn)
        .optional()
        .map(|row| {
            row.map(|(reason, by, by_id, at)| Block {
                reason,
                by: by.unwrap_or_else(|| STAGECOACH.to_owned()),
                by_id,
                at,
            })
        })
}
