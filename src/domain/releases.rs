//! Releases: creating one (with its artifacts, the pipeline snapshot, its
//! first environment release and, by default, its first deployment), the
//! paginated list, the timeline across the pipeline, and deletion under
//! rule 1 (also held by a trigger).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use serde_json::json;

use super::audit::{self, Actor, Event};
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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = releases)]
pub struct Release {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub title: String,
    pub description: String,
    pub snapshot: serde_json::Value,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub first_environment_id: i64,
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

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the release is not valid")]
    Invalid(FieldErrors),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

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
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub position: i32,
    pub url: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
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
        let ids: Vec<i64> = pipeline.iter().map(|e| e.id).collect();
        let steps = steps::for_environments(conn, &ids)?;
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
    pub fn order(&self) -> Vec<(i64, String)> {
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
    project_id: i64,
    version: &str,
) -> QueryResult<Option<Release>> {
    releases::table
        .filter(releases::project_id.eq(project_id))
        .filter(releases::version.eq(version))
        .select(Release::as_select())
        .first(conn)
        .optional()
}

pub fn artifacts(conn: &mut PgConnection, release_id: i64) -> QueryResult<Vec<Artifact>> {
    release_artifacts::table
        .filter(release_artifacts::release_id.eq(release_id))
        .order(release_artifacts::position.asc())
        .select(Artifact::as_select())
        .load(conn)
}

/// Where a release stands in one environment, for a chip.
#[derive(Debug, Clone)]
pub struct StageState {
    pub environment: String,
    /// Status of the newest deployment there; `None`: not reached.
    pub status: Option<DeploymentStatus>,
    pub label: Option<String>,
    /// This release is the one live there now.
    pub live: bool,
}

#[derive(Debug, Clone)]
pub struct ReleaseRow {
    pub release: ReleaseSummary,
    pub stages: Vec<StageState>,
}

/// What a list row shows of a release: no snapshot or description.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = releases)]
pub struct ReleaseSummary {
    pub id: i64,
    pub version: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseQuery {
    /// Matches version or title, case-insensitively.
    pub search: String,
    /// Only releases that succeeded in this environment.
    pub environment_id: Option<i64>,
    pub before: Option<Cursor>,
}

pub const PAGE_SIZE: i64 = 50;

/// A release's newest attempt in one environment, as a list row shows it.
#[derive(serde::Deserialize)]
struct StateRow {
    environment_id: i64,
    status: DeploymentStatus,
    version_label: String,
}

#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(embed)]
    release: ReleaseSummary,
    #[diesel(sql_type = diesel::sql_types::Json)]
    states: serde_json::Value,
}

/// Around one page of releases (the DSL query, with its filters and
/// keyset): each release's newest attempt per environment, read through
/// `deployments_release_environment_idx` in the same statement.
const LIST_BEFORE: &str = "SELECT p.id, p.version, p.title, p.created_at,
       coalesce((SELECT json_agg(json_build_object(
                          'environment_id', s.environment_id, 'status', s.status,
                          'version_label', s.version_label))
                   FROM (SELECT DISTINCT ON (d.environment_id)
                                d.environment_id, d.status, er.version_label
                           FROM deployments d
                           JOIN environment_releases er ON er.id = d.environment_release_id
                          WHERE d.release_id = p.id
                          ORDER BY d.environment_id, d.created_at DESC, d.id DESC) s), '[]') AS states
  FROM (";
const LIST_AFTER: &str = ") p ORDER BY p.created_at DESC, p.id DESC";

/// The release live in each environment of the pipeline.
pub fn live_by_environment(
    conn: &mut PgConnection,
    pipeline: &[Environment],
) -> QueryResult<HashMap<i64, i64>> {
    #[derive(QueryableByName)]
    struct Live {
        #[diesel(sql_type = BigInt)]
        environment_id: i64,
        #[diesel(sql_type = BigInt)]
        release_id: i64,
    }
    let ids: Vec<i64> = pipeline.iter().map(|e| e.id).collect();
    // One bounded read per environment (deployments_succeeded_idx).
    let rows: Vec<Live> = crate::db::prepared(
        diesel::sql_query(
            "SELECT e.id AS environment_id, n.release_id
               FROM unnest($1::bigint[]) AS e(id)
               CROSS JOIN LATERAL (
                   SELECT d.release_id FROM deployments d
                    WHERE d.environment_id = e.id AND d.status = 'succeeded'
                    ORDER BY d.finished_at DESC NULLS LAST, d.id DESC LIMIT 1) n",
        )
        .bind::<Array<BigInt>, _>(ids),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.environment_id, r.release_id))
        .collect())
}

fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One page of a project's releases, newest first (keyset, no OFFSET), each
/// with its state in every environment: one statement. `live` is the
/// release live in each environment ([`live_by_environment`]).
pub fn list(
    conn: &mut PgConnection,
    project_id: i64,
    pipeline: &[Environment],
    live: &HashMap<i64, i64>,
    query: &ReleaseQuery,
    limit: i64,
) -> QueryResult<(Vec<ReleaseRow>, Option<Cursor>)> {
    let mut q = releases::table
        .filter(releases::project_id.eq(project_id))
        .select(ReleaseSummary::as_select())
        .into_boxed();
    let search = query.search.trim();
    if !search.is_empty() {
        return search_page(conn, project_id, pipeline, live, query, search, limit);
    }
    if let Some(environment_id) = query.environment_id {
        // Probed per release through deployments_release_environment_idx,
        // walking releases newest first: no set of every release there.
        q = q.filter(diesel::dsl::exists(
            deployments_table::table
                .filter(deployments_table::release_id.eq(releases::id))
                .filter(deployments_table::environment_id.eq(environment_id))
                .filter(deployments_table::status.eq(super::deployments::status::SUCCEEDED)),
        ));
    }
    if let Some(c) = query.before {
        // `created_at <= c` alone is what the index scan can start from
        // (releases_project_created_idx): the page 1,000 deep reads from
        // the cursor on, not every release above it.
        q = q.filter(releases::created_at.le(c.created_at)).filter(
            releases::created_at
                .lt(c.created_at)
                .or(releases::created_at
                    .eq(c.created_at)
                    .and(releases::id.lt(c.id))),
        );
    }
    let q = q.order((releases::created_at.desc(), releases::id.desc()));
    let page = crate::db::limited(q, limit + 1);
    let page: Vec<ListedRow> = crate::db::around(LIST_BEFORE, page, LIST_AFTER).load(conn)?;
    listed(page, pipeline, live, limit)
}

/// Releases matching a search, newest first: the same page as [`list`]'s.
///
/// One plan must serve every pattern, and no single one does: walking the
/// newest releases finds a common pattern at once but reads the whole
/// history for a rare one; the trigram index finds a rare one at once but
/// every row of a common one, to sort them. So the statement walks the
/// newest `SEARCH_WALK` releases from the cursor first, and only when
/// they hold less than a page asks the index (`releases_search_words_idx`)
/// for every match, which then are at most one in `SEARCH_WALK / limit`
/// releases. Either way `ILIKE` on the columns decides what matches.
fn search_page(
    conn: &mut PgConnection,
    project_id: i64,
    pipeline: &[Environment],
    live: &HashMap<i64, i64>,
    query: &ReleaseQuery,
    search: &str,
    limit: i64,
) -> QueryResult<(Vec<ReleaseRow>, Option<Cursor>)> {
    use diesel::sql_types::{Nullable, Text, Timestamptz};
    let page: Vec<ListedRow> = crate::db::around(
        LIST_BEFORE,
        crate::db::prepared(
            diesel::sql_query(search_sql(limit + 1))
                .bind::<BigInt, _>(project_id)
                .bind::<Nullable<Timestamptz>, _>(query.before.map(|c| c.created_at))
                .bind::<Nullable<BigInt>, _>(query.before.map(|c| c.id))
                .bind::<Text, _>(format!("%{}%", escape_like(search)))
                .bind::<Text, _>(search)
                .bind::<Nullable<BigInt>, _>(query.environment_id),
        ),
        LIST_AFTER,
    )
    .load(conn)?;
    listed(page, pipeline, live, limit)
}

/// How many of the newest releases a search reads before it asks the index.
const SEARCH_WALK: i64 = 2000;

/// The search statement for pages of `n - 1` (the page size is a literal:
/// a generic plan costs a bound `LIMIT` as a tenth of the table).
fn search_sql(n: i64) -> String {
    // $1 project, $2/$3 cursor (or none), $4 the ILIKE pattern, $5 what
    // was typed, $6 the environment it must have succeeded in (or none).
    let filters = format!(
        "r.search_words LIKE (SELECT release_search_pattern($5))
         AND (r.version ILIKE $4 OR r.title ILIKE $4)
         AND r.created_at <= coalesce($2, 'infinity')
         AND (r.created_at < coalesce($2, 'infinity') OR r.id < coalesce($3, {max}))
         AND ($6::bigint IS NULL OR EXISTS (
               SELECT 1 FROM deployments d
                WHERE d.release_id = r.id AND d.environment_id = $6
                  AND d.status = 'succeeded'))",
        max = i64::MAX,
    );
    format!(
        "WITH recent AS MATERIALIZED (
             SELECT r.id, r.version, r.title, r.created_at
               FROM (SELECT id, version, title, created_at, search_words
                       FROM releases
                      WHERE project_id = $1
                        AND created_at <= coalesce($2, 'infinity')
                      ORDER BY created_at DESC, id DESC
                      LIMIT {SEARCH_WALK}) r
              WHERE {filters}
              ORDER BY r.created_at DESC, r.id DESC
              LIMIT {n}
         ), indexed AS MATERIALIZED (
             SELECT id, project_id, version, title, created_at, search_words
               FROM releases
              WHERE search_words LIKE (SELECT release_search_pattern($5))
                AND (SELECT count(*) FROM recent) < {n}
         )
         SELECT * FROM recent WHERE (SELECT count(*) FROM recent) = {n}
         UNION ALL
         (SELECT r.id, r.version, r.title, r.created_at
            FROM indexed r
           WHERE r.project_id = $1 AND {filters}
           ORDER BY r.created_at DESC, r.id DESC
           LIMIT {n})"
    )
}

/// Takes a page read with [`LIST_BEFORE`] apart: its rows, and the cursor
/// of the next page when one more row than `limit` came back.
fn listed(
    mut page: Vec<ListedRow>,
    pipeline: &[Environment],
    live: &HashMap<i64, i64>,
    limit: i64,
) -> QueryResult<(Vec<ReleaseRow>, Option<Cursor>)> {
    let next = if page.len() as i64 > limit {
        page.truncate(limit as usize);
        page.last().map(|r| Cursor {
            created_at: r.release.created_at,
            id: r.release.id,
        })
    } else {
        None
    };
    let rows = page
        .into_iter()
        .map(|ListedRow { release, states }| {
            let states: Vec<StateRow> = crate::db::from_json(states)?;
            let mut state: HashMap<i64, StateRow> =
                states.into_iter().map(|s| (s.environment_id, s)).collect();
            let stages = pipeline
                .iter()
                .map(|env| {
                    let row = state.remove(&env.id);
                    StageState {
                        environment: env.name.clone(),
                        status: row.as_ref().map(|r| r.status),
                        label: row.map(|r| r.version_label),
                        live: live.get(&env.id) == Some(&release.id),
                    }
                })
                .collect();
            Ok(ReleaseRow { release, stages })
        })
        .collect::<QueryResult<_>>()?;
    Ok((rows, next))
}

/// A release in one environment of its timeline.
#[derive(Debug, Clone)]
pub struct TimelineStage {
    pub environment: Environment,
    pub label: Option<String>,
    /// The environment and label this one was promoted from.
    pub promoted_from: Option<(String, String)>,
    pub deployments: Vec<DeploymentView>,
    pub live: bool,
}

impl TimelineStage {
    pub fn latest(&self) -> Option<&DeploymentView> {
        self.deployments.last()
    }

    pub fn reached(&self) -> bool {
        self.label.is_some()
    }

    pub fn succeeded(&self) -> bool {
        self.deployments
            .iter()
            .any(|d| d.status == DeploymentStatus::Succeeded)
    }
}

/// The release across the pipeline: per environment its environment
/// release, the link it came from, and every attempt.
/// `facts` are the release's (`release_view::facts`); its attempts are
/// read here.
pub fn timeline(
    conn: &mut PgConnection,
    release: &Release,
    pipeline: &[Environment],
    facts: &ReleaseFacts,
) -> QueryResult<Vec<TimelineStage>> {
    let ers = &facts.environment_releases;
    let by_id: HashMap<i64, (i64, String)> = ers
        .iter()
        .map(|er| (er.id, (er.environment_id, er.version_label.clone())))
        .collect();
    let env_names: HashMap<i64, String> = pipeline.iter().map(|e| (e.id, e.name.clone())).collect();
    let mut history = deployments::for_release(conn, release.id)?;
    Ok(pipeline
        .iter()
        .map(|env| {
            let er = ers.iter().find(|er| er.environment_id == env.id);
            let promoted_from = er.and_then(|er| er.promoted_from).and_then(|from| {
                by_id.get(&from).map(|(env_id, label)| {
                    (
                        env_names.get(env_id).cloned().unwrap_or_default(),
                        label.clone(),
                    )
                })
            });
            let (mine, rest): (Vec<_>, Vec<_>) =
                history.drain(..).partition(|d| d.environment_id == env.id);
            history = rest;
            TimelineStage {
                environment: env.clone(),
                label: er.map(|er| er.version_label.clone()),
                promoted_from,
                deployments: mine,
                live: facts.now(env.id).and_then(|now| now.live_release_id) == Some(release.id),
            }
        })
        .collect())
}

/// Why the release can't be deleted now (rule 1), if it can't.
pub fn delete_blocker(conn: &mut PgConnection, release: &Release) -> QueryResult<Option<String>> {
    let beyond: Option<String> = environment_releases::table
        .inner_join(crate::db::schema::environments::table)
        .filter(environment_releases::release_id.eq(release.id))
        .filter(environment_releases::environment_id.ne(release.first_environment_id))
        .order(crate::db::schema::environments::position.desc())
        .select(crate::db::schema::environments::name)
        .first(conn)
        .optional()?;
    if beyond.is_some() {
        return Ok(delete_blocker_text(beyond.as_deref(), false));
    }
    let busy: bool = diesel::select(diesel::dsl::exists(
        deployments_table::table
            .filter(deployments_table::release_id.eq(release.id))
            .filter(deployments_table::status.eq_any(super::deployments::status::in_flight())),
    ))
    .get_result(conn)?;
    Ok(delete_blocker_text(None, busy))
}

/// [`delete_blocker`] from a timeline already read (the release page's).
pub fn delete_blocker_in(release: &Release, timeline: &[TimelineStage]) -> Option<String> {
    let beyond = timeline
        .iter()
        .rev()
        .find(|stage| stage.reached() && stage.environment.id != release.first_environment_id)
        .map(|stage| stage.environment.name.as_str());
    let busy = timeline
        .iter()
        .flat_map(|stage| &stage.deployments)
        .any(|d| {
            matches!(
                d.status,
                DeploymentStatus::Queued | DeploymentStatus::Running
            )
        });
    delete_blocker_text(beyond, busy)
}

/// Rule 1's refusal: promoted beyond its first environment (the furthest
/// one named), or an attempt in flight.
fn delete_blocker_text(beyond: Option<&str>, busy: bool) -> Option<String> {
    if let Some(environment) = beyond {
        return Some(format!(
            "Deployed to {environment}: a promoted release can't be deleted, so its history stays whole."
        ));
    }
    busy.then(|| {
        "A deployment of it is queued or running: it can be deleted once that ends.".to_owned()
    })
}

/// Deletes a release while rule 1 allows. The row lock serialises this with
/// any deploy of the same release; the trigger refuses whatever slips past.
pub fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: i64,
) -> Result<Release, ReleaseError> {
    conn.transaction(|conn| {
        let release: Release = releases::table
            .find(release_id)
            .select(Release::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or_else(|| ReleaseError::Refused("This release was already deleted.".to_owned()))?;
        if let Some(reason) = delete_blocker(conn, &release)? {
            return Err(ReleaseError::Refused(reason));
        }
        diesel::delete(releases::table.find(release.id))
            .execute(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::RestrictViolation,
                    info,
                ) => ReleaseError::Refused(info.message().to_owned()),
                other => other.into(),
            })?;
        audit::record(
            conn,
            actor,
            Event::new("release.deleted", "release", &release.version)
                .in_project(release.project_id)
                .details(json!({ "title": release.title })),
        )?;
        Ok(release)
    })
}
