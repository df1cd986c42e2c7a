//! Releases: creating one (with its artifacts, the pipeline snapshot, its
//! first environment release and, by default, its first deployment), here;
//! the paginated list and search (`list.rs`), the timeline across the
//! pipeline (`timeline.rs`), and deletion under rule 1 (`delete.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::checks::{self, Check};
use super::deployments::{self, DeploymentView};
use super::environments::{self, Environment};
use super::keyset::Cursor;
use super::projects::Project;
use super::release_view::ReleaseFacts;
use super::states::DeploymentStatus;
use super::states::Trigger;
use super::steps::{self, Step};
use super::validation::{self, FieldErrors};
use super::variables::{self, Variable};
use crate::db::schema::{
    deployments as deployments_table, environment_releases, release_artifacts, releases,
};
use crate::domain::ids::{EnvironmentId, ProjectId, ReleaseId, UserId};

mod delete;
mod list;
mod timeline;

pub use delete::*;
pub use list::*;
pub use timeline::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = releases)]
pub struct Release {
    pub id: ReleaseId,
    pub project_id: ProjectId,
    pub version: String,
    pub title: String,
    pub description: String,
    pub snapshot: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub first_environment_id: EnvironmentId,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = release_artifacts)]
pub struct Artifact {
    pub name: String,
    pub reference: String,
    pub url: Option<String>,
    pub sha256: Option<String>,
}

/// One artifact row of the form, as typed.
#[derive(Debug, Clone, Default)]
pub struct ArtifactInput {
    pub name: String,
    pub reference: String,
    pub url: String,
    pub sha256: String,
}

impl ArtifactInput {
    fn is_blank(&self) -> bool {
        [&self.name, &self.reference, &self.url, &self.sha256]
            .iter()
            .all(|v| v.trim().is_empty())
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub version: String,
    pub title: String,
    pub description: String,
    pub artifacts: Vec<ArtifactInput>,
}

/// How this area says no (see `rejection`).
pub type ReleaseError = crate::domain::rejection::Rejection;

pub const MAX_ARTIFACTS: usize = 20;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// An artifact's name, and its version or reference.
pub const MAX_ARTIFACT_FIELD_CHARS: usize = 200;

/// Field errors; artifact fields are named `artifacts[i].field`.
pub fn validate(input: &ReleaseInput) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(problem) = validation::version_problem(input.version.trim()) {
        errors.add("version", problem);
    }
    if let Some(problem) =
        validation::name_problem(input.title.trim(), 1, MAX_TITLE_CHARS, "a title")
    {
        errors.add("title", problem);
    }
    if let Some(problem) = validation::text_problem(&input.description, MAX_DESCRIPTION_CHARS) {
        errors.add("description", problem);
    }
    if input.artifacts.iter().filter(|a| !a.is_blank()).count() > MAX_ARTIFACTS {
        errors.add(
            "artifacts",
            format!("A release holds at most {MAX_ARTIFACTS} artifacts."),
        );
    }
    for (i, artifact) in input.artifacts.iter().enumerate() {
        if artifact.is_blank() {
            continue;
        }
        if let Some(problem) = validation::name_problem(
            artifact.name.trim(),
            1,
            MAX_ARTIFACT_FIELD_CHARS,
            "the artifact's name",
        ) {
            errors.add(format!("artifacts[{i}].name"), problem);
        }
        if let Some(problem) = validation::name_problem(
            artifact.reference.trim(),
            1,
            MAX_ARTIFACT_FIELD_CHARS,
            "a version or reference",
        ) {
            errors.add(format!("artifacts[{i}].reference"), problem);
        }
        if let Some(problem) = validation::url_problem(artifact.url.trim()) {
            errors.add(format!("artifacts[{i}].url"), problem);
        }
        let sha = artifact.sha256.trim();
        let well_formed = sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit());
        if !sha.is_empty() && !well_formed {
            errors.add(
                format!("artifacts[{i}].sha256"),
                "A SHA-256 is 64 hexadecimal characters.",
            );
        }
    }
    errors
}

/// One environment as a release saw it at creation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SnapshotEnvironment {
    pub id: EnvironmentId,
    pub slug: String,
    pub name: String,
    pub position: i32,
    pub url: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Run after the steps succeed (verification).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Secret values stay sealed in the snapshot.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// What a release will do, frozen at creation: later edits to the pipeline
/// (its order, steps and variables) never change it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    #[serde(default)]
    pub environments: Vec<SnapshotEnvironment>,
}

impl Snapshot {
    fn take(conn: &mut PgConnection, pipeline: &[Environment]) -> QueryResult<Self> {
        let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
        let steps = steps::for_environments(conn, &ids)?;
        let checks = checks::for_environments(conn, &ids)?;
        let variables = variables::for_environments(conn, &ids)?;
        Ok(Self {
            environments: pipeline
                .iter()
                .map(|e| SnapshotEnvironment {
                    id: e.id,
                    slug: e.slug.clone(),
                    name: e.name.clone(),
                    position: e.position,
                    url: e.url.clone(),
                    steps: steps
                        .iter()
                        .filter(|s| s.environment_id == e.id)
                        .cloned()
                        .collect(),
                    checks: checks
                        .iter()
                        .filter(|c| c.environment_id == e.id)
                        .cloned()
                        .collect(),
                    variables: variables
                        .iter()
                        .filter(|v| v.environment_id == e.id)
                        .cloned()
                        .collect(),
                })
                .collect(),
        })
    }

    pub fn of(release: &Release) -> Self {
        serde_json::from_value(release.snapshot.clone()).unwrap_or_default()
    }

    /// The environments as (id, name), in pipeline order.
    pub fn order(&self) -> Vec<(EnvironmentId, String)> {
        self.environments
            .iter()
            .map(|e| (e.id, e.name.clone()))
            .collect()
    }
}

/// Creates a release in the project's first environment.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    project: &Project,
    input: &ReleaseInput,
) -> Result<Release, ReleaseError> {
    let mut errors = validate(input);
    let version = input.version.trim();
    if !errors.has("version") && find(conn, project.id, version)?.is_some() {
        errors.add(
            "version",
            format!("{} already has a release {version}.", project.name),
        );
    }
    errors.into_result().map_err(ReleaseError::Invalid)?;
    conn.transaction(|conn| {
        let pipeline = environments::list(conn, project.id)?;
        let first = pipeline
            .first()
            .ok_or_else(|| ReleaseError::Refused("This project has no environments.".to_owned()))?;
        let release = diesel::insert_into(releases::table)
            .values((
                releases::project_id.eq(project.id),
                releases::version.eq(version),
                releases::title.eq(input.title.trim()),
                releases::description.eq(input.description.trim_end()),
                releases::snapshot.eq(serde_json::to_value(Snapshot::take(conn, &pipeline)?)
                    .map_err(|e| ReleaseError::Refused(format!("could not record the snapshot: {e}")))?),
                releases::created_by.eq(actor.user_id),
                releases::first_environment_id.eq(first.id),
            ))
            .returning(Release::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                    let mut errors = FieldErrors::new();
                    errors.add("version", format!("{} already has a release {version}.", project.name));
                    ReleaseError::Invalid(errors)
                }
                other => other.into(),
            })?;
        let artifacts: Vec<_> = input
            .artifacts
            .iter()
            .filter(|a| !a.is_blank())
            .enumerate()
            .map(|(position, a)| {
                (
                    release_artifacts::release_id.eq(release.id),
                    release_artifacts::position.eq(position as i32),
                    release_artifacts::name.eq(a.name.trim().to_owned()),
                    release_artifacts::reference.eq(a.reference.trim().to_owned()),
                    release_artifacts::url.eq(Some(a.url.trim().to_owned()).filter(|u| !u.is_empty())),
                    release_artifacts::sha256.eq(Some(a.sha256.trim().to_lowercase()).filter(|s| !s.is_empty())),
                )
            })
            .collect();
        if !artifacts.is_empty() {
            diesel::insert_into(release_artifacts::table).values(artifacts).execute(conn)?;
        }
        let environment_release_id: i64 = diesel::insert_into(environment_releases::table)
            .values((
                environment_releases::release_id.eq(release.id),
                environment_releases::environment_id.eq(first.id),
                environment_releases::version_label.eq(version),
                environment_releases::created_by.eq(actor.user_id),
            ))
            .returning(environment_releases::id)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("release.created", "release", &release.version)
                .in_project(project.id)
                .details(json!({ "title": release.title, "artifacts": input.artifacts.iter().filter(|a| !a.is_blank()).count() })),
        )?;
        if first.trigger == Trigger::OnRelease {
            deployments::queue_initial(conn, actor, &release, environment_release_id)?;
        }
        Ok(release)
    })
}

pub fn find(
    conn: &mut PgConnection,
    project_id: ProjectId,
    version: &str,
) -> QueryResult<Option<Release>> {
    releases::table
        .filter(releases::project_id.eq(project_id))
        .filter(releases::version.eq(version))
        .select(Release::as_select())
        .first(conn)
        .optional()
}

/// Whether `input` asks for exactly `release` (title, description and
/// artifacts as creation would store them): a CI job's rerun of a create
/// is then harmless.
pub fn is_same(
    conn: &mut PgConnection,
    release: &Release,
    input: &ReleaseInput,
) -> QueryResult<bool> {
    if release.title != input.title.trim() || release.description != input.description.trim_end() {
        return Ok(false);
    }
    let stored = artifacts(conn, release.id)?;
    let asked: Vec<_> = input.artifacts.iter().filter(|a| !a.is_blank()).collect();
    Ok(stored.len() == asked.len()
        && stored.iter().zip(asked).all(|(s, a)| {
            s.name == a.name.trim()
                && s.reference == a.reference.trim()
                && s.url.as_deref().unwrap_or_default() == a.url.trim()
                && s.sha256.as_deref().unwrap_or_default() == a.sha256.trim().to_lowercase()
        }))
}

pub fn artifacts(conn: &mut PgConnection, release_id: ReleaseId) -> QueryResult<Vec<Artifact>> {
    release_artifacts::table
        .filter(release_artifacts::release_id.eq(release_id))
        .order(release_artifacts::position.asc())
        .select(Artifact::as_select())
        .load(conn)
}
