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
