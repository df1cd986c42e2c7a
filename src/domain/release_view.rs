//! What the release page reads beside the release row and its attempts, in
//! one statement: who created it, its artifacts, its environment releases,
//! and per environment of the pipeline what holds there now (the live
//! release, the window, a freeze, who approves and who already did). Each
//! part is a few rows, and a round trip to the database costs more than
//! the rows (`bench/README.md`).

use crate::domain::ids::{EnvironmentId, ReleaseId, UserId};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Json, Nullable, Text};
use serde::Deserialize;

use super::freezes::Freeze;
use super::releases::Artifact;

/// A release's presence in one environment.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentRelease {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub version_label: String,
    pub promoted_from: Option<i64>,
}

/// Someone, by id and display name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub name: String,
}

/// What holds in one environment now, as far as the release page shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentNow {
    pub environment_id: EnvironmentId,
    /// The release of the newest successful deployment there.
    pub live_release_id: Option<ReleaseId>,
    /// Its version.
    pub live_version: Option<String>,
    pub window_open: bool,
    /// When a closed window next opens.
    pub window_next_open: Option<DateTime<Utc>>,
    pub freeze: Option<Freeze>,
    /// Active users holding `approver` there, directly or through a team;
    /// read only where approvals are required.
    pub approvers: Vec<Person>,
    /// Who approved or deferred this release's deployment waiting there.
    pub decided: Vec<Person>,
}

#[derive(Debug, Clone)]
pub struct ReleaseFacts {
    pub created_by: Option<String>,
    /// "Do not promote", while it holds.
    pub block: Option<super::blocks::Block>,
    pub artifacts: Vec<Artifact>,
    pub environment_releases: Vec<EnvironmentRelease>,
    pub environments: HashMap<EnvironmentId, EnvironmentNow>,
}

impl ReleaseFacts {
    pub fn now(&self, environment_id: EnvironmentId) -> Option<&EnvironmentNow> {
        self.environments.get(&environment_id)
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    created_by: Option<String>,
    #[diesel(sql_type = Nullable<Json>)]
    block: Option<serde_json::Value>,
    #[diesel(sql_type = Json)]
    artifacts: serde_json::Value,
    #[diesel(sql_type = Json)]
    environment_releases: serde_json::Value,
    #[diesel(sql_type = Json)]
    environments: serde_json::Value,
}

/// Live: `deployments_succeeded_idx`, one entry per environment. Window and
/// freeze: the database's own rules, the ones its triggers hold deployments
/// to. Approvers: as `access` reads grants (own or through a team).
const SQL: &str = "
SELECT (SELECT u.display_name FROM users u WHERE u.id = r.created_by) AS created_by,
       (SELECT json_build_object('reason', b.reason,
                                 'by', coalesce(u.display_name, 'Stagecoach'),
                                 'by_id', u.id, 'at', b.blocked_at)
          FROM release_blocks b LEFT JOIN users u ON u.id = b.blocked_by
         WHERE b.release_id = r.id) AS block,
       coalesce((SELECT json_agg(json_build_object(
                          'name', a.name, 'reference', a.reference, 'url', a.url,
                          'sha256', a.sha256) ORDER BY a.position)
                   FROM release_artifacts a WHERE a.release_id = r.id), '[]') AS artifacts,
       coalesce((SELECT json_agg(json_build_object(
                          'id', er.id, 'environment_id', er.environment_id,
                          'version_label', er.version_label, 'promoted_from', er.promoted_from))
                   FROM environment_releases er WHERE er.release_id = r.id), '[]')
         AS environment_releases,
       coalesce((SELECT json_agg(json_build_object(
           'environment_id', e.id,
           'live_release_id',
             (SELECT d.release_id FROM deployments d
               WHERE d.environment_id = e.id AND d.status = 'succeeded'
               ORDER BY d.finished_at DESC NULLS LAST, d.id DESC LIMIT 1),
           'live_version',
             (SELECT lr.version FROM deployments d JOIN releases lr ON lr.id = d.release_id
               WHERE d.environment_id = e.id AND d.status = 'succeeded'
               ORDER BY d.finished_at DESC NULLS LAST, d.id DESC LIMIT 1),
           'window_open', e.window_start IS NULL OR environment_window_open(e, now()),
           'window_next_open',
             CASE WHEN e.window_start IS NOT NULL THEN environment_window_next_open(e, now()) END,
           'freeze', (SELECT row_to_json(f) FROM freezes f WHERE f.id = environment_freeze(e, now())),
           'approvers', CASE WHEN e.required_approvals > 0 THEN
             (SELECT coalesce(json_agg(json_build_object('id', p.id, 'name', p.display_name)
                                       ORDER BY p.id), '[]')
                FROM (SELECT DISTINCT u.id, u.display_name
                        FROM grants g
                        LEFT JOIN team_members tm ON tm.team_id = g.team_id
                        JOIN users u ON u.id = coalesce(g.user_id, tm.user_id)
                       WHERE g.environment_id = e.id AND g.role = 'approver'
                         AND NOT u.disabled) p)
             ELSE '[]' END,
           'decided',
             (SELECT coalesce(json_agg(json_build_object('id', u.id, 'name', u.display_name)
                                       ORDER BY a.created_at, a.id), '[]')
                FROM deployments d
                JOIN approvals a ON a.deployment_id = d.id
                JOIN users u ON u.id = a.approver_id
               WHERE d.release_id = r.id AND d.environment_id = e.id
                 AND d.status = 'awaiting_approval'
                 AND a.decision IN ('approve', 'defer'))
         ) ORDER BY e.position)
         FROM environments e WHERE e.project_id = r.project_id), '[]') AS environments
  FROM releases r
 WHERE r.id = $1";

/// The facts of release `release_id` (see the module's notes).
pub fn facts(conn: &mut PgConnection, release_id: ReleaseId) -> QueryResult<ReleaseFacts> {
    let row: Row = crate::db::prepared(diesel::sql_query(SQL).bind::<BigInt, _>(release_id))
        .get_result(conn)?;
    let environments: Vec<EnvironmentNow> = crate::db::from_json(row.environments)?;
    Ok(ReleaseFacts {
        created_by: row.created_by,
        block: row.block.map(crate::db::from_json).transpose()?,
        artifacts: crate::db::from_json(row.artifacts)?,
        environment_releases: crate::db::from_json(row.environment_releases)?,
        environments: environments
            .into_iter()
            .map(|now| (now.environment_id, now))
            .collect(),
    })
}
