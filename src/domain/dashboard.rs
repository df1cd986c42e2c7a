//! The dashboard's picture: every project, its pipeline, and what is live,
//! running or waiting in each environment. A fixed number of queries,
//! whatever the number of projects.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};

use crate::db::schema::{environments, projects};

#[derive(Debug, Clone)]
pub struct ProjectOverview {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub stages: Vec<StageOverview>,
}

#[derive(Debug, Clone)]
pub struct StageOverview {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub url: Option<String>,
    /// The release live here: the newest successful deployment.
    pub live: Option<LiveRelease>,
    /// The state of the newest deployment here, when it is not the live one.
    pub latest: Option<LatestDeployment>,
}

#[derive(Debug, Clone)]
pub struct LiveRelease {
    pub version: String,
    pub label: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct LatestDeployment {
    pub version: String,
    pub label: String,
    pub status: String,
}

impl LatestDeployment {
    /// Words for the state, as shown in a chip.
    pub fn status_text(&self) -> &'static str {
        match self.status.as_str() {
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
}

#[derive(QueryableByName)]
struct DeploymentRow {
    #[diesel(sql_type = BigInt)]
    environment_id: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    version_label: String,
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    finished_at: Option<DateTime<Utc>>,
}

/// The newest deployment per environment, optionally only successful ones:
/// one bounded index read per environment (`LATERAL … LIMIT 1`), whatever
/// the history.
fn newest_per_environment(
    conn: &mut PgConnection,
    environment_ids: &[i64],
    succeeded_only: bool,
) -> QueryResult<HashMap<i64, DeploymentRow>> {
    let newest = if succeeded_only {
        // deployments_succeeded_idx
        "SELECT d.id, d.status, d.release_id, d.environment_release_id, d.finished_at
           FROM deployments d
          WHERE d.environment_id = e.id AND d.status = 'succeeded'
          ORDER BY d.finished_at DESC NULLS LAST, d.id DESC LIMIT 1"
    } else {
        // deployments_environment_idx
        "SELECT d.id, d.status, d.release_id, d.environment_release_id, d.finished_at
           FROM deployments d
          WHERE d.environment_id = e.id
          ORDER BY d.created_at DESC, d.id DESC LIMIT 1"
    };
    // One of two fixed texts, so each stays prepared.
    let rows: Vec<DeploymentRow> = crate::db::prepared(
        diesel::sql_query(format!(
            "SELECT e.id AS environment_id, n.status, er.version_label, r.version, n.finished_at
               FROM unnest($1::bigint[]) AS e(id)
               CROSS JOIN LATERAL ({newest}) n
               JOIN environment_releases er ON er.id = n.environment_release_id
               JOIN releases r ON r.id = n.release_id"
        ))
        .bind::<Array<BigInt>, _>(environment_ids),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.environment_id, row))
        .collect())
}

/// The projects in `visible` (all when `None`), each with its pipeline.
pub fn overview(
    conn: &mut PgConnection,
    visible: Option<&[i64]>,
) -> QueryResult<Vec<ProjectOverview>> {
    let mut query = projects::table
        .order(projects::name.asc())
        .select((
            projects::id,
            projects::slug,
            projects::name,
            projects::description,
        ))
        .into_boxed();
    if let Some(ids) = visible {
        query = query.filter(projects::id.eq_any(ids.to_vec()));
    }
    let projects: Vec<(i64, String, String, String)> = query.load(conn)?;
    let project_ids: Vec<i64> = projects.iter().map(|p| p.0).collect();
    let envs: Vec<(i64, i64, String, String, Option<String>)> = environments::table
        .filter(environments::project_id.eq_any(&project_ids))
        .order((environments::project_id, environments::position))
        .select((
            environments::id,
            environments::project_id,
            environments::slug,
            environments::name,
            environments::url,
        ))
        .load(conn)?;
    let env_ids: Vec<i64> = envs.iter().map(|e| e.0).collect();
    let mut live = newest_per_environment(conn, &env_ids, true)?;
    let mut latest = newest_per_environment(conn, &env_ids, false)?;

    let mut stages_by_project: HashMap<i64, Vec<StageOverview>> = HashMap::new();
    for (env_id, project_id, slug, name, url) in envs {
        let live_row = live.remove(&env_id);
        let latest = latest
            .remove(&env_id)
            .filter(|row| row.status != "succeeded")
            .map(|row| LatestDeployment {
                version: row.version,
                label: row.version_label,
                status: row.status,
            });
        stages_by_project
            .entry(project_id)
            .or_default()
            .push(StageOverview {
                id: env_id,
                slug,
                name,
                url,
                live: live_row.map(|row| LiveRelease {
                    version: row.version,
                    label: row.version_label,
                    since: row.finished_at.unwrap_or_else(Utc::now),
                }),
                latest,
            });
    }
    Ok(projects
        .into_iter()
        .map(|(id, slug, name, description)| ProjectOverview {
            slug,
            name,
            description,
            stages: stages_by_project.remove(&id).unwrap_or_default(),
        })
        .collect())
}
