//! What lets `GET /api/v1/deployments/{id}?wait=N` hold a request until the
//! deployment's state changes without asking the database on behalf of each
//! waiting client: one watcher per process reads the states of every
//! deployment someone waits on, in one indexed query every
//! [`LOOK_EVERY`] while anyone waits (none when nobody does), and tells the
//! waiters whose deployment changed.
//!
//! Why not `NOTIFY` from a trigger on every status change: PostgreSQL
//! commits notifying transactions one at a time (a lock held through the
//! commit's WAL flush), and the workers' start and finish of every
//! deployment would then queue behind each other; with it, 1,000 queued
//! deployments ran at 276 a second against 265–466 before (bench/README.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use crate::db::{self, DbPool};
use crate::domain::deployments;
use crate::domain::ids::DeploymentId;

/// How often the watcher looks while someone waits: a change is heard
/// within this (plus one query) of its commit.
pub const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The longest a request may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// A deployment someone waits on: how many wait, and the state last seen.
struct Watched {
    waiters: usize,
    state: String,
}

pub struct DeploymentChanges {
    watched: Mutex<HashMap<DeploymentId, Watched>>,
    /// True once the server is asked to stop: every waiter answers.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Wakes the watcher when the first waiter comes.
    someone_waits: Notify,
    sender: broadcast::Sender<DeploymentId>,
}

impl DeploymentChanges {
    /// Starts the watcher on `pool`; it stops once the returned value is
    /// dropped (the server stopped).
    pub fn start(pool: DbPool) -> Arc<Self> {
        let (sender, _) = broadcast::channel(1024);
        let hub = Arc::new(Self {
            watched: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
            someone_waits: Notify::new(),
            sender,
        });
        tokio::spawn(watch(Arc::downgrade(&hub), pool));
        hub
    }

    /// The server is stopping: every request waiting answers now, with
    /// where its deployment stands.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Waits on `id`, last seen in `state`, until the returned guard drops.
    pub fn wait_on(self: &Arc<Self>, id: DeploymentId, state: &str) -> Waiting {
        let changes = self.sender.subscribe();
        if let Ok(mut watched) = self.watched.lock() {
            watched
                .entry(id)
                .or_insert_with(|| Watched {
                    waiters: 0,
                    state: state.to_owned(),
                })
                .waiters += 1;
        }
        self.someone_waits.notify_one();
        Waiting {
            hub: Arc::clone(self),
            id,
            changes,
            stopping: self.stopping.subscribe(),
        }
    }

    fn ids(&self) -> Vec<DeploymentId> {
        self.watched
            .lock()
            .map(|w| w.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Compares what was read with what was seen; tells the waiters of
    /// each deployment that changed.
    fn compare(&self, now: &[(DeploymentId, String)]) {
        let Ok(mut watched) = self.watched.lock() else {
            return;
        };
        for (id, state) in now {
            if let Some(seen) = watched.get_mut(id)
                && seen.state != *state
            {
                seen.state.clone_from(state);
                // No receiver: the waiters just left.
                let _ = self.sender.send(*id);
            }
        }
    }
}

async fn watch(hub: Weak<DeploymentChanges>, pool: DbPool) {
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let ids = strong.ids();
        if ids.is_empty() {
            // Sleep until someone waits, checking each second that the
            // server still runs (a wake-up sent meanwhile is kept).
            let _ =
                tokio::time::timeout(Duration::from_secs(1), strong.someone_waits.notified()).await;
            continue;
        }
        drop(strong);
        let read = db::run(&pool, move |conn| deployments::states_of(conn, &ids)).await;
        let Some(strong) = hub.upgrade() else { return };
        match read {
            Ok(now) => strong.compare(&now),
            // The database is away: the waiters answer at their time-out.
            Err(err) => tracing::debug!("watching deployments: {err}"),
        }
        drop(strong);
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// One request waiting on one deployment.
pub struct Waiting {
    hub: Arc<DeploymentChanges>,
    id: DeploymentId,
    changes: broadcast::Receiver<DeploymentId>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Waiting {
    /// Waits until the deployment's state changed, or until `until`:
    /// `true` when it is worth reading it again.
    pub async fn changed(&mut self, until: tokio::time::Instant) -> bool {
        loop {
            let heard = tokio::select! {
                heard = tokio::time::timeout_at(until, self.changes.recv()) => heard,
                // The server stops: answer now (a closed sender also ends it).
                _ = self.stopping.wait_for(|stopping| *stopping) => return false,
            };
            match heard {
                // Time is up, or the watcher is gone (the server stops).
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return false,
                Ok(Ok(id)) if id == self.id => return true,
                Ok(Ok(_)) => {}
                // Missed some: ours may have been among them.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => return true,
            }
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut watched) = self.hub.watched.lock()
            && let Some(entry) = watched.get_mut(&self.id)
        {
            entry.waiters -= 1;
            if entry.waiters == 0 {
                watched.remove(&self.id);
            }
        }
    }
}
