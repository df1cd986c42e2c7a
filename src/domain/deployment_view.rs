//! What the deployment page shows beside the deployment itself: its steps,
//! the approvers' decisions, and whether a freeze or the deployment window
//! holds its environment now. One statement: each of these is a few rows,
//! and a round trip to the database costs more than the rows
//! (`bench/README.md`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Json, Nullable};

use super::approvals::ApprovalView;
use super::deployments::StepRun;
use super::freezes::Freeze;

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
                          'finished_at', s.finished_at, 'detail', s.detail)
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
    deployment_id: i64,
    environment_id: i64,
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
