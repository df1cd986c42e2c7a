//! What lets `GET /api/v1/deployments/{id}?wait=N` hold a request until the
//! deployment's state changes without asking the database on behalf of each
//! waiting client: one `LISTEN deployment_changed` per process (a trigger
//! announces every status change with the deployment's id, whichever path
//! made it), fanned out to the waiting requests in memory. A waiter reads
//! the deployment again only when its own id was announced.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::db::listen::{self, Heard};

/// The id sent when the listener (re)connected: every waiter looks again,
/// since something may have changed while nobody listened.
pub const ANYTHING: i64 = 0;

/// The longest a request may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

pub struct DeploymentChanges {
    sender: broadcast::Sender<i64>,
}

impl DeploymentChanges {
    /// Starts listening on the database at `database_url`. The listener
    /// stops once the returned value is dropped (the server stopped).
    pub fn start(database_url: String) -> Arc<Self> {
        let (sender, _) = broadcast::channel(1024);
        let hub = Arc::new(Self { sender });
        let weak: Weak<Self> = Arc::downgrade(&hub);
        listen::spawn(database_url, "deployment_changed", move |heard| {
            let Some(hub) = weak.upgrade() else {
                return false;
            };
            match heard {
                Heard::Connected => {
                    let _ = hub.sender.send(ANYTHING);
                }
                Heard::Payloads(payloads) => {
                    for id in payloads.iter().filter_map(|p| p.parse::<i64>().ok()) {
                        // No receiver: nobody waits, nothing to do.
                        let _ = hub.sender.send(id);
                    }
                }
            }
            true
        });
        hub
    }

    /// Ids of deployments whose status changed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.sender.subscribe()
    }
}

/// Waits until `id` is announced (or anything may have changed), or until
/// `until`. `true` when it is worth reading the deployment again.
pub async fn announced(
    changes: &mut broadcast::Receiver<i64>,
    id: i64,
    until: tokio::time::Instant,
) -> bool {
    loop {
        match tokio::time::timeout_at(until, changes.recv()).await {
            // Time is up, or the hub is gone (the server stops).
            Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return false,
            Ok(Ok(heard)) if heard == id || heard == ANYTHING => return true,
            Ok(Ok(_)) => {}
            // Missed some: ours may have been among them.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => return true,
        }
    }
}
