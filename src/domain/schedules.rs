//! Scheduled triggers: when an environment's schedule comes round, the
//! newest release that succeeded in the previous environment and is not
//! yet in this one is deployed, through this environment's approvals.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::deployments::{self, DeployError, DeployInput};
use super::environments;
use crate::db::schema::{
    deployments as deployments_table, environment_releases, environments as environments_table,
    releases,
};
use crate::domain::ids::{EnvironmentId, ProjectId, ReleaseId};

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: EnvironmentId,
    #[diesel(sql_type = BigInt)]
    project_id: ProjectId,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    slot: Option<DateTime<Utc>>,
}

/// Acts on every schedule whose latest slot at `at` has not been acted on.
/// Rows are taken with SKIP LOCKED so workers share the work; returns how
/// many deployments were requested.
pub fn run_due(conn: &mut PgConnection, at: DateTime<Utc>) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let due: Vec<Due> = diesel::sql_query(
            "SELECT e.id, e.project_id, environment_last_schedule(e, $1) AS slot
               FROM environments e
              WHERE e.trigger = 'scheduled'
                AND environment_last_schedule(e, $1) IS NOT NULL
                AND (e.schedule_checked_at IS NULL OR e.schedule_checked_at < environment_last_schedule(e, $1))
              FOR UPDATE SKIP LOCKED",
        )
        .bind::<Timestamptz, _>(at)
        .load(conn)?;
        let mut requested = 0;
        for due in due {
            diesel::update(environments_table::table.find(due.id))
                .set(environments_table::schedule_checked_at.eq(at))
                .execute(conn)?;
            let pipeline = environments::list(conn, due.project_id)?;
            let Some(index) = pipeline.iter().position(|e| e.id == due.id) else { continue };
            let Some(previous) = index.checked_sub(1).map(|i| &pipeline[i]) else { continue };
            // The newest release that succeeded there and is not yet here.
            let here = environment_releases::table
                .filter(environment_releases::environment_id.eq(due.id))
                .select(environment_releases::release_id);
            let candidate: Option<(ReleaseId, String)> = releases::table
                .filter(releases::project_id.eq(due.project_id))
                .filter(releases::id.eq_any(
                    deployments_table::table
                        .filter(deployments_table::environment_id.eq(previous.id))
                        .filter(deployments_table::status.eq(super::deployments::status::SUCCEEDED))
                        .select(deployments_table::release_id),
                ))
                .filter(releases::id.ne_all(here))
                .order((releases::created_at.desc(), releases::id.desc()))
                .select((releases::id, releases::version))
                .first(conn)
                .optional()?;
            let actor = Actor {
                name: "schedule".to_owned(),
                ..Actor::system()
            };
            let Some((release_id, version)) = candidate else {
                audit::record(
                    conn,
                    &actor,
                    Event::new("schedule.fired", "environment", due.id)
                        .in_project(due.project_id)
                        .details(json!({ "slot": due.slot.map(|s| s.to_rfc3339()), "release": null })),
                )?;
                continue;
            };
            let input = DeployInput {
                environment_id: due.id,
                comment: format!("Scheduled: newest release that succeeded in {}.", previous.name),
                cause: deployments::Cause::Schedule,
                ..Default::default()
            };
            match deployments::request(conn, &actor, release_id, &input) {
                Ok(_) => requested += 1,
                Err(DeployError::Db(err)) => return Err(err),
                Err(other) => tracing::info!(environment = due.id.0, "schedule did not deploy {version}: {other}"),
            }
            audit::record(
                conn,
                &actor,
                Event::new("schedule.fired", "environment", due.id)
                    .in_project(due.project_id)
                    .details(json!({ "slot": due.slot.map(|s| s.to_rfc3339()), "release": version })),
            )?;
        }
        Ok(requested)
    })
}
