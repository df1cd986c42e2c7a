//! The deployment worker: claims queued deployments (any number of workers
//! may share one database) and runs them. Environments have no steps yet,
//! so a claimed deployment succeeds at once; the execution issue adds the
//! steps here.

use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, DbPool};
use crate::domain::deployments;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Pause between polls when there is nothing to do.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Claims and runs one deployment. Returns whether there was one.
pub fn run_one(conn: &mut diesel::PgConnection, worker: &str) -> diesel::QueryResult<bool> {
    let Some(deployment) = deployments::claim_next(conn, worker)? else {
        return Ok(false);
    };
    tracing::info!(deployment = deployment.id, worker, "deployment started");
    deployments::finish(conn, worker, deployment.id, true)?;
    tracing::info!(deployment = deployment.id, worker, "deployment succeeded");
    Ok(true)
}

/// Polls for work until `stop` turns true.
pub async fn run(pool: DbPool, config: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let worker = crate::auth::random::token_hex(4);
    tracing::info!(worker, "deployment worker started");
    loop {
        if *stop.borrow() {
            break;
        }
        let name = worker.clone();
        let busy = match db::run(&pool, move |conn| run_one(conn, &name)).await {
            Ok(busy) => busy,
            Err(err) => {
                tracing::warn!(worker, "worker could not poll: {err}");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
    tracing::info!(worker, "deployment worker stopped");
}

/// Starts `count` workers on the current runtime; send `true` to stop them.
pub fn spawn(pool: &DbPool, config: &WorkerConfig, count: usize) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    for _ in 0..count {
        tokio::spawn(run(pool.clone(), config.clone(), rx.clone()));
    }
    tx
}
