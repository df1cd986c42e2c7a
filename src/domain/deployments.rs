//! Deployments: one attempt to run a release's steps in one environment.
//! Requesting one (deploy, promote, redeploy, roll back), and the worker's
//! side: claiming queued ones and recording how they ended. Every change of
//! state is one transaction with its audit event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::environments::{self, Environment};
use super::releases::Release;
use super::validation::{self, FieldErrors};
use crate::db::schema::environments as environments_table;
use crate::db::schema::{deployments, environment_releases, releases, users};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = deployments)]
pub struct Deployment {
    pub id: i64,
    pub environment_release_id: i64,
    pub release_id: i64,
    pub environment_id: i64,
    pub attempt: i32,
    pub status: String,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The states of `PRODUCT.md`: awaiting_approval → queued → running →
/// succeeded | failed, or rejected | cancelled.
pub const ACTIVE: [&str; 3] = ["awaiting_approval", "queued", "running"];

/// Words for a status, as people read it.
pub fn status_text(status: &str) -> &'static str {
    match status {
        "awaiting_approval" => "waiting for approval",
        "queued" => "queued",
        "running" => "running",
        "succeeded" => "succeeded",
        "failed" => "failed",
        "rejected" => "rejected",
        "cancelled" => "cancelled",
        _ => "unknown",
    }
}

pub fn is_active(status: &str) -> bool {
    ACTIVE.contains(&status)
}

#[derive(Debug, Clone, Default)]
pub struct DeployInput {
    pub environment_id: i64,
    /// The label in the target environment; empty keeps the previous one.
    pub version_label: String,
    pub comment: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the deploy form is not valid")]
    Invalid(FieldErrors),
    /// Not possible now; the text says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
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
            .filter(deployments::status.eq("succeeded")),
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
    let active: Option<String> = deployments::table
        .filter(deployments::release_id.eq(release.id))
        .filter(deployments::environment_id.eq(target.id))
        .filter(deployments::status.eq_any(ACTIVE))
        .select(deployments::status)
        .first(conn)
        .optional()?;
    Ok(active.map(|status| {
        format!(
            "{} is already {} in {}.",
            release.version,
            status_text(&status),
            target.name
        )
    }))
}

/// The release live in an environment: the one of its newest successful
/// deployment.
pub fn live_release_id(conn: &mut PgConnection, environment_id: i64) -> QueryResult<Option<i64>> {
    deployments::table
        .filter(deployments::environment_id.eq(environment_id))
        .filter(deployments::status.eq("succeeded"))
        .order((
            deployments::finished_at.desc().nulls_last(),
            deployments::id.desc(),
        ))
        .select(deployments::release_id)
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
    }
    let label_input = input.version_label.trim();
    if let Some(problem) = Some(label_input)
        .filter(|l| !l.is_empty())
        .and_then(validation::version_problem)
    {
        errors.add("version_label", problem);
    }
    errors.into_result().map_err(DeployError::Invalid)?;

    conn.transaction(|conn| {
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
        if let Some(reason) = entry_blocker(conn, &release, &pipeline, index)? {
            return Err(DeployError::Refused(reason));
        }

        let existing: Option<(i64, String)> = environment_releases::table
            .filter(environment_releases::release_id.eq(release.id))
            .filter(environment_releases::environment_id.eq(target.id))
            .select((
                environment_releases::id,
                environment_releases::version_label,
            ))
            .first(conn)
            .optional()?;
        let (environment_release_id, label, promoted) = match existing {
            Some((id, label)) => (id, label, false),
            None => {
                let previous: Option<(i64, String)> = match index.checked_sub(1) {
                    Some(prev) if target.id != release.first_environment_id => {
                        environment_releases::table
                            .filter(environment_releases::release_id.eq(release.id))
                            .filter(environment_releases::environment_id.eq(pipeline[prev].id))
                            .select((
                                environment_releases::id,
                                environment_releases::version_label,
                            ))
                            .first(conn)
                            .optional()?
                    }
                    _ => None,
                };
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

        let is_rollback = match live_release_id(conn, target.id)? {
            Some(live) if live != release.id => {
                let live_created: DateTime<Utc> = releases::table
                    .find(live)
                    .select(releases::created_at)
                    .first(conn)?;
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
        let deployment = diesel::insert_into(deployments::table)
            .values((
                deployments::environment_release_id.eq(environment_release_id),
                deployments::release_id.eq(release.id),
                deployments::environment_id.eq(target.id),
                deployments::attempt.eq(attempt),
                deployments::status.eq("queued"),
                deployments::is_rollback.eq(is_rollback),
                deployments::comment.eq(input.comment.trim()),
                deployments::requested_by.eq(actor.user_id),
            ))
            .returning(Deployment::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => DeployError::Refused(format!(
                    "{} is already being deployed to {}.",
                    release.version, target.name
                )),
                other => other.into(),
            })?;
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
                })),
        )?;
        Ok(deployment)
    })
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
            deployments::status.eq("queued"),
            deployments::requested_by.eq(actor.user_id),
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

/// The worker's claim: the oldest queued deployment whose environment has
/// nothing running, taken with `FOR UPDATE SKIP LOCKED` so any number of
/// workers can poll at once. Marked running, with its audit event.
pub fn claim_next(conn: &mut PgConnection, worker: &str) -> QueryResult<Option<Deployment>> {
    let result = conn.transaction(|conn| {
        let claimed: Option<Deployment> = diesel::sql_query(
            "UPDATE deployments SET status = 'running', started_at = now()
              WHERE id = (
                    SELECT d.id FROM deployments d
                     WHERE d.status = 'queued'
                       AND NOT EXISTS (SELECT 1 FROM deployments r
                                        WHERE r.environment_id = d.environment_id AND r.status = 'running')
                     ORDER BY d.created_at, d.id
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED)
              RETURNING *",
        )
        .get_result(conn)
        .optional()?;
        if let Some(deployment) = &claimed {
            let project_id: i64 = environments_table::table
                .find(deployment.environment_id)
                .select(environments_table::project_id)
                .first(conn)?;
            audit::record(
                conn,
                &Actor::worker(worker),
                Event::new("deployment.started", "deployment", deployment.id).in_project(project_id),
            )?;
        }
        Ok(claimed)
    });
    match result {
        // Another worker started a deployment in the same environment at the
        // same instant; the unique index refused ours. Try again later.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        other => other,
    }
}

/// Records how a running deployment ended.
pub fn finish(
    conn: &mut PgConnection,
    worker: &str,
    deployment_id: i64,
    succeeded: bool,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let status = if succeeded { "succeeded" } else { "failed" };
        let environment_id: i64 = diesel::update(
            deployments::table
                .find(deployment_id)
                .filter(deployments::status.eq("running")),
        )
        .set((
            deployments::status.eq(status),
            deployments::finished_at.eq(Utc::now()),
        ))
        .returning(deployments::environment_id)
        .get_result(conn)?;
        let project_id: i64 = environments_table::table
            .find(environment_id)
            .select(environments_table::project_id)
            .first(conn)?;
        audit::record(
            conn,
            &Actor::worker(worker),
            Event::new(
                if succeeded {
                    "deployment.succeeded"
                } else {
                    "deployment.failed"
                },
                "deployment",
                deployment_id,
            )
            .in_project(project_id),
        )
    })
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
    pub status: String,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl DeploymentView {
    pub fn status_text(&self) -> &'static str {
        status_text(&self.status)
    }

    pub fn is_active(&self) -> bool {
        is_active(&self.status)
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
        created_at: d.created_at,
        finished_at: d.finished_at,
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
        .left_join(users::table)
        .select((
            Deployment::as_select(),
            releases::version,
            environment_releases::version_label,
            users::display_name.nullable(),
        ))
        .limit(limit)
        .into_boxed();
    query = match scope {
        Scope::Release(id) => query
            .filter(deployments::release_id.eq(id))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::Active(env) => query
            .filter(deployments::environment_id.eq(env))
            .filter(deployments::status.eq_any(ACTIVE))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::History(env, before) => {
            let query = query.filter(deployments::environment_id.eq(env));
            let query = match before {
                Some(c) => query.filter(
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
            .filter(deployments::status.eq("succeeded"))
            .order((
                deployments::finished_at.desc().nulls_last(),
                deployments::id.desc(),
            )),
    };
    query.load(conn)
}

/// Generous bound for lists that are short by nature (one release's
/// attempts, one environment's queue).
const UNPAGED: i64 = 1000;

/// Every deployment of one release, oldest first.
pub fn for_release(conn: &mut PgConnection, release_id: i64) -> QueryResult<Vec<DeploymentView>> {
    Ok(load_views(conn, Scope::Release(release_id), UNPAGED)?
        .into_iter()
        .map(to_view)
        .collect())
}

/// What is awaiting approval, queued or running in an environment, oldest first.
pub fn active_in(conn: &mut PgConnection, environment_id: i64) -> QueryResult<Vec<DeploymentView>> {
    Ok(load_views(conn, Scope::Active(environment_id), UNPAGED)?
        .into_iter()
        .map(to_view)
        .collect())
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
