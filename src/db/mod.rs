//! The database: connection pool, the one helper handlers use to reach it,
//! embedded migrations, the generated schema and the private cluster.

pub mod constant;
mod limit;
pub mod listen;
pub mod local_pg;
pub mod migrations;
mod prepared;
pub mod schema;
pub mod text_enum;

pub use limit::{LiteralLimit, limited};
pub use prepared::{Around, Prepared, around, prepared};

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::web;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, Pool, PooledConnection, R2D2Connection,
};
use diesel::{PgConnection, RunQueryDsl};

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

/// How long a request waits for a pooled connection before answering 503.
/// r2d2's default of 30 s would make a lost database look like a hang; a
/// request is answered within 2 s while the database is down (issue 14),
/// and under the benchmark's 64 connections no checkout waits near this.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(1500);

/// A connection unused for this long is checked (one `SELECT`) before
/// [`run`] hands it out; one used more recently is not.
///
/// r2d2 could check every checkout (`test_on_check_out`), but that is a
/// round trip before every unit of work, and on a busy server the
/// connections are in constant use. Without any check, a restart of the
/// database would fail one request per pooled connection (diesel then
/// marks the connection broken and the pool drops it): a connection that
/// sat idle is the one likely to have been cut, so that is the one checked.
pub const IDLE_CHECK_AFTER: Duration = Duration::from_secs(2);

/// The check of an idle connection; its name lets statement counts leave
/// it out (it belongs to the connection, not to the request).
const IDLE_CHECK: &str = "SELECT true AS idle_check";

/// Set once on each new pooled connection: how PostgreSQL plans this
/// app's statements (see [`SESSION_SETTINGS`]).
///
/// `plan_cache_mode`: a prepared statement is planned once, generically,
/// and that plan serves every later call. PostgreSQL's default re-plans a
/// statement on every call whenever its generic plan looks dearer than a
/// plan for the actual values, and for a page's queries it often does
/// (`LIMIT $n` is costed as a tenth of the table; `project_id = $1` by the
/// average project). Planning then cost more than running, and most of
/// the database's time under load (`bench/README.md`). The queries are
/// written for generic plans: fixed values are literals ([`constant`],
/// [`limited`]) so partial indexes still apply. This holds for unnamed
/// statements too (a plain `sql_query` is planned per call, but
/// generically): a query whose best plan depends on a value cannot ask for
/// a custom one, so it is written so one plan fits every value (the release
/// search, the audit log's action prefix).
///
/// `max_parallel_workers_per_gather = 0`: no statement of this app reads
/// enough rows to gain from parallel workers, and starting one costs
/// milliseconds. A generic plan costed `LIMIT $n` as a tenth of a large
/// table and chose a parallel scan to find what is live in an environment:
/// 7.4 ms per deploy at 100,000 releases for one index entry, 0.04 ms
/// without (`bench/README.md`, "Deploy at full size").
pub const SESSION_SETTINGS: [&str; 2] = [
    "SET plan_cache_mode = force_generic_plan",
    "SET max_parallel_workers_per_gather = 0",
];

#[derive(Debug)]
struct PlannerSettings;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PlannerSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&SESSION_SETTINGS.join("; "))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The constraint a statement broke, when the database refused it as a
/// check violation (a `CHECK`, or a trigger that names itself): how a
/// refusal the database holds is told apart from a fault, by name.
pub fn violated_check(err: &diesel::result::Error) -> Option<&str> {
    match err {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            info,
        ) => info.constraint_name(),
        _ => None,
    }
}

/// Whether the database refused a write because it takes none (read-only:
/// a full disk, a standby). Reads go on; a change is refused whole, and
/// bookkeeping a read does (a session's expiry, a token's last use) is
/// skipped until it takes writes again.
pub fn is_read_only(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
            _
        )
    )
}

/// One trivial statement: the database answers (the readiness probe).
pub fn ping(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// Reads a JSON value a statement built (`json_agg`, `row_to_json`) into
/// `T`: how the pages that gather several small lists in one statement
/// take them apart.
pub fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> diesel::QueryResult<T> {
    serde_json::from_value(value)
        .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
}

/// Builds the pool without connecting: the app starts (and answers 503 on
/// `/readyz`) even while the database is away, and recovers by itself.
pub fn build_pool(database_url: &str, max_size: u32) -> anyhow::Result<DbPool> {
    let manager = ConnectionManager::<PgConnection>::new(database_url);
    Ok(Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(CONNECTION_TIMEOUT)
        // [`run`] checks only connections that sat idle: see IDLE_CHECK_AFTER.
        .test_on_check_out(false)
        .connection_customizer(Box::new(PlannerSettings))
        .build_unchecked(manager))
}

/// Names the query that checks a connection which sat idle, so statement
/// counts can leave it out (see [`IDLE_CHECK`]).
pub const IDLE_CHECK_MARK: &str = "idle_check";

/// Start of the message of [`RunError::Unavailable`] (in logs). The
/// middleware tells "database away" from a bug by [`RequestDatabase`], not
/// by this text.
pub const UNAVAILABLE: &str = "database unavailable";

/// Why a unit of database work did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E> {
    /// No connection within [`CONNECTION_TIMEOUT`]: the database is unreachable.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] diesel::r2d2::PoolError),
    /// The blocking thread pool refused or lost the work.
    #[error("blocking task failed")]
    Blocking,
    /// The work itself failed.
    #[error(transparent)]
    Work(E),
}

/// When a pooled connection last finished some work (kept in r2d2's
/// per-connection extensions).
struct LastUsed(Instant);

/// A connection from `pool`, checked first if it sat idle (see
/// [`IDLE_CHECK_AFTER`]). A connection that fails the check is broken in
/// diesel's eyes and dropped by the pool on return; the next one is tried.
fn checkout(pool: &DbPool) -> Result<DbConn, diesel::r2d2::PoolError> {
    let mut attempts = pool.max_size() + 1;
    loop {
        tracing::trace!("pool checkout");
        let mut conn = pool.get()?;
        let idle = PooledConnection::extensions(&conn)
            .get::<LastUsed>()
            .is_some_and(|used| used.0.elapsed() >= IDLE_CHECK_AFTER);
        attempts -= 1;
        if !idle || attempts == 0 {
            return Ok(conn);
        }
        match diesel::sql_query(IDLE_CHECK).execute(&mut *conn) {
            Ok(_) => return Ok(conn),
            Err(err) => {
                tracing::info!(
                    broken = conn.is_broken(),
                    "dropping a pooled connection that failed its idle check: {err}"
                );
            }
        }
    }
}

/// After work that failed: whether the connection itself is dead (the
/// server ended it, or is gone). A dead one is marked as long idle, so the
/// next checkout checks it and the pool drops it, rather than lending it
/// out again to fail the next request too; a live one is marked used.
/// Errors are rare, so the check costs nothing on the paths that matter.
fn settle(conn: &mut DbConn, failed: bool) -> bool {
    let dead = failed
        && diesel::sql_query(IDLE_CHECK)
            .execute(&mut **conn)
            .inspect_err(|err| {
                tracing::info!("dropping a connection that failed after an error: {err}");
            })
            .is_err();
    let at = if dead {
        Instant::now()
            .checked_sub(IDLE_CHECK_AFTER)
            .unwrap_or_else(Instant::now)
    } else {
        Instant::now()
    };
    PooledConnection::extensions_mut(conn).insert(LastUsed(at));
    dead
}

tokio::task_local! {
    /// The connection a request keeps between its units of work.
    static REQUEST_CONN: RequestConn;
}

struct RequestConn {
    kept: RefCell<Option<DbConn>>,
    may_keep: bool,
    /// Some unit of work found no connection: the database is away.
    unavailable: std::cell::Cell<bool>,
}

/// How a request's handling went, as far as the database is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestDatabase {
    /// A unit of work found no connection within [`CONNECTION_TIMEOUT`]:
    /// whatever error the request ended with, the cause is a database that
    /// is away (503), not a bug (500). Errors from the session store reach
    /// the middleware as opaque text; this is how it knows.
    pub unavailable: bool,
}

/// Runs one request's handling: a connection kept by [`run_and_keep`]
/// serves the request's next [`run`], so a page costs one checkout, and is
/// returned to the pool at the latest when the request ends.
///
/// Only when `may_keep` (a GET or HEAD, which have no body): between the
/// session's load and the handler's work a POST reads its body, and a slow
/// client must not hold a connection meanwhile.
pub async fn request_scope<F: Future>(may_keep: bool, handling: F) -> (F::Output, RequestDatabase) {
    let conn = RequestConn {
        kept: RefCell::new(None),
        may_keep,
        unavailable: std::cell::Cell::new(false),
    };
    REQUEST_CONN
        .scope(conn, async {
            let output = handling.await;
            let unavailable = REQUEST_CONN.with(|request| request.unavailable.get());
            (output, RequestDatabase { unavailable })
        })
        .await
}

/// Notes in the request's scope, if any, that the database was away.
fn note_unavailable<T, E>(result: &Result<T, RunError<E>>, dead: bool) {
    if dead || matches!(result, Err(RunError::Unavailable(_))) {
        let _ = REQUEST_CONN.try_with(|request| request.unavailable.set(true));
    }
}

fn take_kept() -> Option<DbConn> {
    REQUEST_CONN
        .try_with(|request| request.kept.borrow_mut().take())
        .ok()
        .flatten()
}

/// Runs blocking diesel work on actix's blocking pool with a pooled
/// connection (the one this request kept, if any). Every handler reaches
/// the database through this.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, RunError<E>>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let kept = take_kept();
    let pool = pool.clone();
    let result = web::block(move || {
        let mut conn = match kept {
            Some(conn) => conn,
            None => checkout(&pool).map_err(RunError::Unavailable)?,
        };
        let result = work(&mut conn).map_err(RunError::Work);
        let dead = settle(&mut conn, result.is_err());
        Ok((result, dead))
    })
    .await
    .map_err(|_| RunError::Blocking)?;
    let (result, dead) = match result {
        Ok(done) => done,
        Err(unavailable) => (Err(unavailable), false),
    };
    note_unavailable(&result, dead);
    result
}

/// As [`run`], then keeps the connection for the request's next [`run`]
/// (inside a [`request_scope`] that allows it; otherwise returns it). For
/// the session's load, which comes before every page's own work.
pub async fn run_and_keep<T, E, F>(pool: &DbPool, work: F) -> Result<T, RunError<E>>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let kept = take_kept();
    let pool = pool.clone();
    let (result, conn, dead) = web::block(move || {
        let mut conn = match kept {
            Some(conn) => conn,
            None => match checkout(&pool) {
                Ok(conn) => conn,
                Err(err) => return (Err(RunError::Unavailable(err)), None, false),
            },
        };
        let result = work(&mut conn).map_err(RunError::Work);
        let dead = settle(&mut conn, result.is_err());
        (result, Some(conn), dead)
    })
    .await
    .map_err(|_| RunError::Blocking)?;
    note_unavailable(&result, dead);
    if let Some(conn) = conn.filter(|_| result.is_ok()) {
        // Outside a scope, or where keeping is not allowed, `conn` drops
        // here and goes back to the pool.
        let _ = REQUEST_CONN.try_with(|request| {
            if request.may_keep {
                request.kept.borrow_mut().replace(conn);
            }
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_request_that_finds_no_connection_says_so_to_its_scope() {
        let manager =
            ConnectionManager::<PgConnection>::new("postgres://nobody@/none?host=/nonexistent");
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(50))
            .build_unchecked(manager);
        let (result, database) = request_scope(true, async {
            run(&pool, |conn| diesel::sql_query("SELECT 1").execute(conn)).await
        })
        .await;
        let Err(err) = result else {
            panic!("no database there");
        };
        assert!(matches!(err, RunError::Unavailable(_)));
        assert!(err.to_string().starts_with(UNAVAILABLE));
        assert!(database.unavailable);

        let ((), database) = request_scope(true, async {}).await;
        assert!(!database.unavailable, "nothing ran, nothing was away");
    }
}
