//! What the deployment page shows: the deployment with the names it is
//! shown by ([`named`]), then beside it its steps, the approvers'
//! decisions, and whether a freeze or the deployment window holds its
//! environment now, in one statement: each of these is a few rows, and a
//! round trip to the database costs more than the rows (`bench/README.md`).

use crate::domain::ids::{DeploymentId, EnvironmentId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Json, Nullable};

use super::approvals::ApprovalView;
use super::deployments::{Deployment, StepRun};
use super::freezes::Freeze;

/// A deployment with the names it is shown by.
pub struct Named {
    pub deployment: Deployment,
    pub version: String,
    pub label: String,
    pub requested_by: Option<String>,
    pub project_slug: String,
}

/// The deployment `id` with its release's version, its label, who asked
/// for it and its project's slug (by which the project is then opened).
pub fn named(conn: &mut PgConnection, id: DeploymentId) -> QueryResult<Option<Named>> {
    use crate::db::schema::{
        deployments, environment_releases, environments, projects, releases, users,
    };
    let row: Option<(Deployment, String, String, Option<String>, String)> = deployments::table
        .inner_join(releases::table)
        .inner_join(environment_releases::table)
        .inner_join(environments::table.on(environments::id.eq(deployments::environment_id)))
        .inner_join(projects::table.on(projects::id.eq(environments::project_id)))
        .left_join(users::table.on(deployments::requested_by.eq(users::id.nullable())))
        .filter(deployments::id.eq(id))
        .select((
            Deployment::as_select(),
            releases::version,
            environment_releases::version_label,
            users::display_name.nullable(),
            projects::slug,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(deployment, version, label, requested_by, project_slug)| Named {
            deployment,
            version,
            label,
            requested_by,
            project_slug,
        },
    ))
}

#[derive(Debug, Clone)]
pub struct Surroundings {
    pub steps: Vec<StepRun>,
    pub approvals: Vec<ApprovalView>,
    /// The freeze holding the environment now, if any.
    pub freeze: Option<Freeze>,
    /// The environment has a deployment window and it is closed now.
    pub window_closed: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Json)]
    steps: serde_json::Value,
    #[diesel(sql_type = Json)]
    approvals: serde_json::Value,
    #[diesel(sql_type = Nullable<Json>)]
    freeze: Option<serde_json::Value>,
    #[diesel(sql_type = Bool)]
    window_closed: bool,
}

/// The freeze and window rules are the database's own functions, the ones
/// its triggers hold deployments to.
const SQL: &str = "
SELECT coalesce((SELECT json_agg(json_build_object(
                          'position', s.position, 'name', s.name, 'kind', s.kind,
                          'status', s.status, 'started_at', s.started_at,
                          'finished_at', s.finished_at, 'detail', s.detail,
                          'instructions', s.instructions)
                        ORDER BY s.position)
                   FROM deployment_steps s WHERE s.deployment_id = $1), '[]') AS steps,
       coalesce((SELECT json_agg(json_build_object(
                          'approver', u.display_name, 'decision', a.decision,
                          'comment', a.comment, 'defer_until', a.defer_until,
                          'at', a.created_at)
                        ORDER BY a.created_at, a.id)
                   FROM approvals a JOIN users u ON u.id = a.approver_id
                  WHERE a.deployment_id = $1), '[]') AS approvals,
       (SELECT row_to_json(f) FROM freezes f WHERE f.id = environment_freeze(e, now())) AS freeze,
       NOT environment_window_open(e, now()) AS window_closed
  FROM environments e
 WHERE e.id = $2";

/// The steps, decisions, freeze and window of deployment `deployment_id`
/// in environment `environment_id`.
pub fn surroundings(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    environment_id: EnvironmentId,
) -> QueryResult<Surroundings> {
    let row: Row = crate::db::prepared(
        diesel::sql_query(SQL)
            .bind::<BigInt, _>(deployment_id)
            .bind::<BigInt, _>(environment_id),
    )
    .get_result(conn)?;
    Ok(Surroundings {
        steps: crate::db::from_json(row.steps)?,
        approvals: crate::db::from_json(row.approvals)?,
        freeze: row.freeze.map(crate::db::from_json).transpose()?,
        window_closed: row.window_closed,
    })
}
