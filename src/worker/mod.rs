//! The deployment worker: claims queued deployments (any number of workers
//! in any number of processes may share one database), runs their steps,
//! keeps a lease on what it runs, and fails deployments whose worker died.

pub mod address_policy;
pub mod clock;
mod deliveries;
mod execute;
pub mod plan;
mod wake;
mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, DbPool};
use crate::domain::deployments;
use crate::domain::secrets::SecretBox;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Pause between polls when there is nothing to do.
    pub poll_interval: Duration,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// Largest log kept per deployment, in bytes.
    pub log_cap: u64,
    /// How long a stopping worker waits for running steps.
    pub shutdown_grace: Duration,
    pub secrets: SecretBox,
    /// Which addresses webhook steps may connect to.
    pub webhook_policy: address_policy::AddressPolicy,
    /// How long an event webhook's receiver has to answer.
    pub delivery_timeout: Duration,
    /// Where to `LISTEN` for queued deployments, so idle workers start
    /// them at once; `None`: poll only.
    pub listen_url: Option<String>,
    /// The site's public URL, for links in event webhooks; `None`: links
    /// are paths.
    pub public_url: Option<String>,
    /// The time verification checks are tried on.
    pub clock: clock::Clock,
}

impl WorkerConfig {
    pub fn new(secret_key: &str) -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            log_cap: 10 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            secrets: SecretBox::from_secret_key(secret_key),
            webhook_policy: address_policy::AddressPolicy::default(),
            delivery_timeout: Duration::from_secs(10),
            listen_url: None,
            public_url: None,
            clock: clock::Clock::Real,
        }
    }
}

/// Polls for work until `stop` turns true, then lets a running deployment
/// finish within the grace period before stopping it.
pub async fn run(
    pool: DbPool,
    config: WorkerConfig,
    mut stop: watch::Receiver<bool>,
    mut wake: Option<watch::Receiver<u64>>,
) {
    let worker = format!(
        "{}-{}",
        std::process::id(),
        crate::crypto::random::token_hex(3)
    );
    tracing::info!(worker, "deployment worker started");
    // Housekeeping (leases, approval deadlines, retention, schedules) runs
    // once per poll interval; a wake-up only claims.
    let mut housekept: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if let Some(wake) = wake.as_mut() {
            // Whatever is queued from here on wakes us, even mid-claim.
            wake.borrow_and_update();
        }
        let (name, lease) = (worker.clone(), config.lease);
        let housekeeping = housekept.is_none_or(|at| at.elapsed() >= config.poll_interval);
        if housekeeping {
            housekept = Some(std::time::Instant::now());
        }
        let claimed = db::run(&pool, move |conn| {
            if housekeeping {
                deployments::reap_expired(conn)?;
                crate::domain::approvals::expire(conn)?;
                crate::domain::retention::sweep_due(conn)?;
                crate::domain::schedules::run_due(conn, chrono::Utc::now())?;
            }
            deployments::claim_next(conn, &name, lease)
        })
        .await;
        let deployment = match claimed {
            Ok(Some(deployment)) => deployment,
            Ok(None) => {
                let woken = async {
                    match wake.as_mut() {
                        Some(wake) => {
                            if wake.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(config.poll_interval) => {}
                    () = woken => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(worker, "worker could not poll: {err}");
                tokio::time::sleep(config.poll_interval).await;
                continue;
            }
        };
        tracing::info!(deployment = %deployment.id, worker, "deployment started");
        let shutdown = Arc::new(AtomicBool::new(false));
        let job = {
            let (pool, config, worker, shutdown) = (
                pool.clone(),
                config.clone(),
                worker.clone(),
                shutdown.clone(),
            );
            tokio::task::spawn_blocking(move || {
                execute::execute(&pool, &config, &worker, deployment, &shutdown);
            })
        };
        tokio::pin!(job);
        tokio::select! {
            _ = &mut job => continue,
            _ = stop.changed() => {}
        }
        // Asked to stop mid-run: give the step its grace period, then stop it.
        tracing::info!(worker, "stopping: waiting for the running deployment");
        if tokio::time::timeout(config.shutdown_grace, &mut job)
            .await
            .is_err()
        {
            shutdown.store(true, Ordering::SeqCst);
            let _ = job.await;
        }
        break;
    }
    tracing::info!(worker, "deployment worker stopped");
}

/// Starts `count` workers on the current runtime; send `true` to stop them
/// and wait for `closed()` to know they have.
pub fn spawn(pool: &DbPool, config: &WorkerConfig, count: usize) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    let wake = config
        .listen_url
        .clone()
        .map(|url| wake::listen(url, rx.clone()));
    for _ in 0..count {
        tokio::spawn(run(pool.clone(), config.clone(), rx.clone(), wake.clone()));
    }
    if count > 0 {
        // One sender of event webhooks per process.
        tokio::spawn(deliveries::run(pool.clone(), config.clone(), rx.clone()));
    }
    tx
}
