//! Deployments as pages list them: a release's attempts, an environment's
//! queue and history (newest first, through a keyset [`Cursor`]), and what
//! made the live release live.

use super::*;
use crate::domain::ids::{DeploymentId, EnvironmentId, ReleaseId, UserId};

/// A deployment as history shows it.
#[derive(Debug, Clone)]
pub struct DeploymentView {
    pub id: DeploymentId,
    pub release_id: ReleaseId,
    pub version: String,
    pub label: String,
    pub environment_id: EnvironmentId,
    pub attempt: i32,
    pub status: DeploymentStatus,
    pub is_rollback: bool,
    pub comment: String,
    pub requested_by: Option<String>,
    /// The person who asked (for a chain, its originator); compare by id.
    pub requested_by_id: Option<UserId>,
    pub cause: Cause,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub note: String,
    pub not_before: Option<DateTime<Utc>>,
    /// It ran through a freeze or closed window by break-glass.
    pub is_override: bool,
    /// "Deploy as far as": the environment it heads for.
    pub target_environment_id: Option<EnvironmentId>,
    /// The newer deployment that superseded this one, if one did.
    pub superseded_by: Option<DeploymentId>,
    /// Running, past its steps: its checks are being tried.
    pub verifying: bool,
}

impl DeploymentView {
    /// The state as people read it ("verifying" while its checks run).
    pub fn status_text(&self) -> &'static str {
        self.status.shown_words(self.verifying)
    }

    /// The state's CSS class suffix.
    pub fn state_class(&self) -> &'static str {
        self.status.shown_class(self.verifying)
    }

    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }
}

pub(super) type ViewRow = (Deployment, String, String, Option<String>);

pub(super) fn to_view((d, version, label, requester): ViewRow) -> DeploymentView {
    let verifying = d.is_verifying();
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
        requested_by_id: d.requested_by,
        cause: d.cause,
        created_at: d.created_at,
        finished_at: d.finished_at,
        note: d.note,
        not_before: d.not_before,
        is_override: d.override_confirmed_by.is_some(),
        target_environment_id: d.target_environment_id,
        superseded_by: d.superseded_by,
        verifying,
    }
}

/// Which deployments a history view shows.
pub(super) enum Scope {
    /// Every deployment of one release, oldest first.
    Release(ReleaseId),
    /// What waits or runs in an environment, oldest first.
    Active(EnvironmentId),
    /// An environment's deployments, newest first, before a cursor.
    History(EnvironmentId, Option<Cursor>),
}

/// One query shape for every history view: the deployment with its
/// release's version, its label and who asked for it.
pub(super) fn load_views(
    conn: &mut PgConnection,
    scope: Scope,
    limit: i64,
) -> QueryResult<Vec<ViewRow>> {
    let mut query = deployments::table
        .inner_join(releases::table)
        .inner_join(environment_releases::table)
        .left_join(users::table.on(deployments::requested_by.eq(users::id.nullable())))
        .select((
            Deployment::as_select(),
            releases::version,
            environment_releases::version_label,
            users::display_name.nullable(),
        ))
        .into_boxed();
    query = match scope {
        Scope::Release(id) => query
            .filter(deployments::release_id.eq(id))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::Active(env) => query
            .filter(deployments::environment_id.eq(env))
            .filter(deployments::status.eq_any(status::active()))
            .order((deployments::created_at.asc(), deployments::id.asc())),
        Scope::History(env, before) => {
            let query = query.filter(deployments::environment_id.eq(env));
            let query = match before {
                // `created_at <= c` starts the index scan at the cursor
                // (deployments_environment_idx).
                Some(c) => query
                    .filter(deployments::created_at.le(c.created_at))
                    .filter(
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
    };
    crate::db::limited(query, limit).load(conn)
}

/// Generous bound for lists that are short by nature (one release's
/// attempts).
pub(super) const UNPAGED: i64 = 1000;

/// Every deployment of one release, oldest first.
pub fn for_release(
    conn: &mut PgConnection,
    release_id: ReleaseId,
) -> QueryResult<Vec<DeploymentView>> {
    Ok(load_views(conn, Scope::Release(release_id), UNPAGED)?
        .into_iter()
        .map(to_view)
        .collect())
}

/// What is awaiting approval, queued or running in an environment, oldest
/// first: at most `shown`, and whether more wait behind them. A queue can
/// grow while workers are away, and the page must not grow with it.
pub fn active_in(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    shown: i64,
) -> QueryResult<(Vec<DeploymentView>, bool)> {
    let mut active: Vec<DeploymentView> =
        load_views(conn, Scope::Active(environment_id), shown + 1)?
            .into_iter()
            .map(to_view)
            .collect();
    let more = active.len() as i64 > shown;
    active.truncate(usize::try_from(shown).unwrap_or(0));
    Ok((active, more))
}

/// The deployment that made the live release live, and the newest one
/// that made an older release live there: "roll back to the last good
/// release" brings that one back. One statement, prepared once per
/// connection: two bounded reads of `deployments_succeeded_idx`.
pub fn live_and_previous(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
) -> QueryResult<(Option<DeploymentView>, Option<DeploymentView>)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(embed)]
        deployment: Deployment,
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        version_label: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        requester: Option<String>,
    }
    let rows: Vec<Row> = crate::db::prepared(
        diesel::sql_query(LIVE_AND_PREVIOUS).bind::<diesel::sql_types::BigInt, _>(environment_id),
    )
    .load(conn)?;
    let mut views = rows
        .into_iter()
        .map(|r| to_view((r.deployment, r.version, r.version_label, r.requester)));
    Ok((views.next(), views.next()))
}

/// The names come from subqueries rather than joins: the generic plan
/// joined `environment_releases` by hashing the whole table (a sequential
/// scan of every release's row per environment, 0.2 ms at 2,000 releases
/// and growing with history) to find two rows; a subquery is always one
/// index lookup.
const LIVE_AND_PREVIOUS: &str = "
SELECT d.*,
       (SELECT r.version FROM releases r WHERE r.id = d.release_id) AS version,
       (SELECT er.version_label FROM environment_releases er
         WHERE er.id = d.environment_release_id) AS version_label,
       (SELECT u.display_name FROM users u WHERE u.id = d.requested_by) AS requester
  FROM deployments d
 WHERE d.id = ANY(ARRAY(
       SELECT x.id FROM (
         (SELECT l.id FROM deployments l
           WHERE l.environment_id = $1 AND l.status = 'succeeded'
           ORDER BY l.finished_at DESC NULLS LAST, l.id DESC LIMIT 1)
         UNION ALL
         (SELECT p.id FROM deployments p
            JOIN releases pr ON pr.id = p.release_id,
                 (SELECT lr.created_at, lr.id FROM deployments l
                    JOIN releases lr ON lr.id = l.release_id
                   WHERE l.environment_id = $1 AND l.status = 'succeeded'
                   ORDER BY l.finished_at DESC NULLS LAST, l.id DESC LIMIT 1) live
           WHERE p.environment_id = $1 AND p.status = 'succeeded'
             AND (pr.created_at, pr.id) < (live.created_at, live.id)
           ORDER BY p.finished_at DESC NULLS LAST, p.id DESC LIMIT 1)) x))
 ORDER BY d.finished_at DESC NULLS LAST, d.id DESC";

/// One page of an environment's history, newest first, keyset-paginated.
pub fn history(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<(Vec<DeploymentView>, Option<Cursor>)> {
    let mut rows = load_views(conn, Scope::History(environment_id, before), limit + 1)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor {
            created_at: r.0.created_at,
            id: r.0.id.0,
        })
    } else {
        None
    };
    Ok((rows.into_iter().map(to_view).collect(), next))
}

/// The states of these deployments (those that exist): what the API's long
/// poll watches, in one indexed read however many wait.
pub fn states_of(
    conn: &mut PgConnection,
    ids: &[DeploymentId],
) -> QueryResult<Vec<(DeploymentId, String)>> {
    deployments::table
        .filter(deployments::id.eq_any(ids))
        .select((deployments::id, deployments::status))
        .load::<(DeploymentId, DeploymentStatus)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(id, status)| (id, status.as_str().to_owned()))
                .collect()
        })
}
