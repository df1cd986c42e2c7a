//! The paginated release list and its search: each release with its state
//! in every environment, newest first, through the keyset cursor.

use super::*;
use crate::domain::ids::{EnvironmentId, ProjectId, ReleaseId};

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
    /// Blocked from going further ("do not promote").
    pub blocked: bool,
}

/// What a list row shows of a release: no snapshot or description.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = releases)]
pub struct ReleaseSummary {
    pub id: ReleaseId,
    pub version: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseQuery {
    /// Matches version or title, case-insensitively.
    pub search: String,
    /// Only releases that succeeded in this environment.
    pub environment_id: Option<EnvironmentId>,
    pub before: Option<Cursor>,
}

pub const PAGE_SIZE: i64 = 50;

/// A release's newest attempt in one environment, as a list row shows it.
#[derive(serde::Deserialize)]
pub(super) struct StateRow {
    environment_id: EnvironmentId,
    status: DeploymentStatus,
    version_label: String,
}

#[derive(QueryableByName)]
pub(super) struct ListedRow {
    #[diesel(embed)]
    release: ReleaseSummary,
    #[diesel(sql_type = diesel::sql_types::Json)]
    states: serde_json::Value,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    blocked: bool,
}

/// Around one page of releases (the DSL query, with its filters and
/// keyset): each release's newest attempt per environment, read through
/// `deployments_release_environment_idx` in the same statement.
pub(super) const LIST_BEFORE: &str = "SELECT p.id, p.version, p.title, p.created_at,
       coalesce((SELECT json_agg(json_build_object(
                          'environment_id', s.environment_id, 'status', s.status,
                          'version_label', s.version_label))
                   FROM (SELECT DISTINCT ON (d.environment_id)
                                d.environment_id, d.status, er.version_label
                           FROM deployments d
                           JOIN environment_releases er ON er.id = d.environment_release_id
                          WHERE d.release_id = p.id
                          ORDER BY d.environment_id, d.created_at DESC, d.id DESC) s), '[]') AS states,
       EXISTS (SELECT 1 FROM release_blocks b WHERE b.release_id = p.id) AS blocked
  FROM (";
pub(super) const LIST_AFTER: &str = ") p ORDER BY p.created_at DESC, p.id DESC";

/// The release live in each environment of the pipeline.
pub fn live_by_environment(
    conn: &mut PgConnection,
    pipeline: &[Environment],
) -> QueryResult<HashMap<EnvironmentId, ReleaseId>> {
    #[derive(QueryableByName)]
    struct Live {
        #[diesel(sql_type = BigInt)]
        environment_id: EnvironmentId,
        #[diesel(sql_type = BigInt)]
        release_id: ReleaseId,
    }
    let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
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

pub(crate) fn escape_like(value: &str) -> String {
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
    project_id: ProjectId,
    pipeline: &[Environment],
    live: &HashMap<EnvironmentId, ReleaseId>,
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
                .filter(deployments_table::status.eq(deployments::status::SUCCEEDED)),
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
/// The walk reads only `releases_project_created_idx`, which carries
/// `search_words`, and fetches a release's row only when its words match.
pub(super) fn search_page(
    conn: &mut PgConnection,
    project_id: ProjectId,
    pipeline: &[Environment],
    live: &HashMap<EnvironmentId, ReleaseId>,
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
pub(super) const SEARCH_WALK: i64 = 2000;

/// The search statement for pages of `n - 1` (the page size is a literal:
/// a generic plan costs a bound `LIMIT` as a tenth of the table).
pub(super) fn search_sql(n: i64) -> String {
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
               FROM (SELECT w.id
                       FROM (SELECT id, search_words
                               FROM releases
                              WHERE project_id = $1
                                AND created_at <= coalesce($2, 'infinity')
                              ORDER BY created_at DESC, id DESC
                              LIMIT {SEARCH_WALK}) w
                      WHERE w.search_words LIKE (SELECT release_search_pattern($5))) m
               JOIN releases r ON r.id = m.id
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
pub(super) fn listed(
    mut page: Vec<ListedRow>,
    pipeline: &[Environment],
    live: &HashMap<EnvironmentId, ReleaseId>,
    limit: i64,
) -> QueryResult<(Vec<ReleaseRow>, Option<Cursor>)> {
    let next = if page.len() as i64 > limit {
        page.truncate(limit as usize);
        page.last().map(|r| Cursor {
            created_at: r.release.created_at,
            id: r.release.id.0,
        })
    } else {
        None
    };
    let rows = page
        .into_iter()
        .map(
            |ListedRow {
                 release,
                 states,
                 blocked,
             }| {
                let states: Vec<StateRow> = crate::db::from_json(states)?;
                let mut state: HashMap<EnvironmentId, StateRow> =
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
                Ok(ReleaseRow {
                    release,
                    stages,
                    blocked,
                })
            },
        )
        .collect::<QueryResult<_>>()?;
    Ok((rows, next))
}
