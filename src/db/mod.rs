//! The database: connection pool, the one helper handlers use to reach it,
//! embedded migrations, the generated schema and the private cluster.

pub mod local_pg;
pub mod migrations;
pub mod schema;

use std::time::Duration;

use actix_web::web;
use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

/// How long a request waits for a pooled connection before answering 503.
/// r2d2's default of 30 s would make a lost database look like a hang.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the pool without connecting: the app starts (and answers 503 on
/// `/readyz`) even while the database is away, and recovers by itself.
pub fn build_pool(database_url: &str, max_size: u32) -> anyhow::Result<DbPool> {
    let manager = ConnectionManager::<PgConnection>::new(database_url);
    Ok(Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(CONNECTION_TIMEOUT)
        .test_on_check_out(true)
        .build_unchecked(manager))
}

/// Start of the message of [`RunError::Unavailable`]. Errors from the
/// session store reach the request middleware only as text, and this is how
/// it tells "database away" (503) from a bug (500).
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

/// Runs blocking diesel work on actix's blocking pool with a pooled
/// connection. Every handler reaches the database through this.
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, RunError<E>>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(RunError::Unavailable)?;
        work(&mut conn).map_err(RunError::Work)
    })
    .await
    .map_err(|_| RunError::Blocking)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_errors_start_with_the_marker_the_middleware_looks_for() {
        let pool = build_pool("postgres://nobody@/none?host=/nonexistent", 1).unwrap();
        let Err(err) = pool.get_timeout(Duration::from_millis(10)) else {
            panic!("no database there");
        };
        let run: RunError<std::io::Error> = RunError::Unavailable(err);
        assert!(run.to_string().starts_with(UNAVAILABLE));
    }
}
