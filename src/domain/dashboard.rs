//! The dashboard's picture: every project, its pipeline, and what is live,
//! running or waiting in each environment. A fixed number of queries,
//! whatever the number of projects.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};

use super::environments::Environment;
use super::states::DeploymentStatus;
use crate::db::schema::{environments, projects};
use crate::domain::ids::{EnvironmentId, ProjectId, ReleaseId};

#[derive(Debug, Clone)]
pub struct ProjectOverview {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub stages: Vec<StageOverview>,
}

#[derive(Debug, Clone)]
pub struct StageOverview {
    pub id: EnvironmentId,
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
    pub release_id: ReleaseId,
    pub version: String,
    pub label: String,
    pub since: DateTime<Utc>,
    /// Blocked from going further ("do not promote").
    pub blocked: bool,
}

#[derive(Debug, Clone)]
pub struct LatestDeployment {
    pub version: String,
    pub label: String,
    pub status: DeploymentStatus,
    /// Running, past its steps: its checks are being tried.
    pub verifying: bool,
}

impl LatestDeployment {
    /// Words for the state, as shown in a chip.
    pub fn status_text(&self) -> &'static str {
        self.status.shown_words(self.verifying)
    }

    /// The chip's CSS class suffix.
    pub fn state_class(&self) -> &'static str {
        self.status.shown_class(self.verifying)
    }
}

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = BigInt)]
    environment_id: EnvironmentId,
    #[diesel(sql_type = Nullable<BigInt>)]
    live_release_id: Option<ReleaseId>,
    #[diesel(sql_type = Nullable<Text>)]
    live_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    live_label: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    live_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    live_blocked: bool,
    #[diesel(sql_type = Nullable<Text>)]
    latest_status: Option<DeploymentStatus>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    latest_verifying: bool,
    #[diesel(sql_type = Nullable<Text>)]
    latest_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    latest_label: Option<String>,
}

/// Per environment, its newest successful deployment (what is live:
/// `deployments_succeeded_idx`) and its newest deployment of any status
/// (`deployments_environment_idx`): two bounded index reads per
/// environment, whatever the history, in one statement.
const STATES_SQL: &str = "
SELECT e.id AS environment_id,
       l.release_id AS live_release_id, lr.version AS live_version,
       ler.version_label AS live_label, l.finished_at AS live_since,
       EXISTS (SELECT 1 FROM release_blocks b WHERE b.release_id = l.release_id) AS live_blocked,
       n.status AS latest_status, n.verifying_since IS NOT NULL AS latest_verifying,
       nr.version AS latest_version,
       ner.version_label AS latest_label
  FROM unnest($1::bigint[]) AS e(id)
  LEFT JOIN LATERAL (
        SELECT d.release_id, d.environment_release_id, d.finished_at
          FROM deployments d
         WHERE d.environment_id = e.id AND d.status = 'succeeded'
         ORDER BY d.finished_at DESC NULLS LAST, d.id DESC LIMIT 1) l ON true
  LEFT JOIN releases lr ON lr.id = l.release_id
  LEFT JOIN environment_releases ler ON ler.id = l.environment_release_id
  LEFT JOIN LATERAL (
        SELECT d.status, d.verifying_since, d.release_id, d.environment_release_id
          FROM deployments d
         WHERE d.environment_id = e.id
         ORDER BY d.created_at DESC, d.id DESC LIMIT 1) n ON true
  LEFT JOIN releases nr ON nr.id = n.release_id
  LEFT JOIN environment_releases ner ON ner.id = n.environment_release_id";

/// What is live in an environment, and its newest attempt when that did not
/// succeed.
type EnvironmentState = (Option<LiveRelease>, Option<LatestDeployment>);

/// What is live and what happened last in each environment, by id.
fn states(
    conn: &mut PgConnection,
    environment_ids: &[EnvironmentId],
) -> QueryResult<HashMap<EnvironmentId, EnvironmentState>> {
    let rows: Vec<StateRow> = crate::db::prepared(
        diesel::sql_query(STATES_SQL).bind::<Array<BigInt>, _>(environment_ids),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let live = match (row.live_release_id, row.live_version, row.live_label) {
                (Some(release_id), Some(version), Some(label)) => Some(LiveRelease {
                    release_id,
                    version,
                    label,
                    since: row.live_since.unwrap_or_else(Utc::now),
                    blocked: row.live_blocked,
                }),
                _ => None,
            };
            // Shown only when the newest attempt is not the live one's kind.
            let latest = match (row.latest_status, row.latest_version, row.latest_label) {
                (Some(status), Some(version), Some(label))
                    if status != DeploymentStatus::Succeeded =>
                {
                    Some(LatestDeployment {
                        version,
                        label,
                        status,
                        verifying: row.latest_verifying,
                    })
                }
                _ => None,
            };
            (row.environment_id, (live, latest))
        })
        .collect())
}

/// The pipeline's stages as the dashboard and the project page show them.
pub fn stages(
    conn: &mut PgConnection,
    pipeline: &[Environment],
) -> QueryResult<Vec<StageOverview>> {
    let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
    let mut states = states(conn, &ids)?;
    Ok(pipeline
        .iter()
        .map(|env| {
            let (live, latest) = states.remove(&env.id).unwrap_or_default();
            StageOverview {
                id: env.id,
                slug: env.slug.clone(),
                name: env.name.clone(),
                url: env.url.clone(),
                live,
                latest,
            }
        })
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
    let projects: Vec<(ProjectId, String, String, String)> = query.load(conn)?;
    let project_ids: Vec<ProjectId> = projects.iter().map(|p| p.0).collect();
    let envs: Vec<(EnvironmentId, ProjectId, String, String, Option<String>)> = environments::table
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
    let env_ids: Vec<EnvironmentId> = envs.iter().map(|e| e.0).collect();
    let mut states = states(conn, &env_ids)?;

    let mut stages_by_project: HashMap<ProjectId, Vec<StageOverview>> = HashMap::new();
    for (env_id, project_id, slug, name, url) in envs {
        let (live, latest) = states.remove(&env_id).unwrap_or_default();
        stages_by_project
            .entry(project_id)
            .or_default()
            .push(StageOverview {
                id: env_id,
                slug,
                name,
                url,
                live,
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
