//! Wakes idle workers the moment a deployment is queued, instead of at
//! their next poll. The database announces it (`NOTIFY deployments_queued`,
//! sent by a trigger when the queuing transaction commits, whichever path
//! queued it); one listener per process holds its own connection with
//! `LISTEN` and bumps a counter the workers wait on. Reading pending
//! notifications is a non-blocking socket read, not a query.
//!
//! Polling stays as the fallback: a lost listener connection (the database
//! restarting) only makes workers as slow as before until it reconnects.

use tokio::sync::watch;

use crate::db::listen::{self, Heard};

/// Starts the listener; the receiver's value changes whenever deployments
/// were queued (or the listener reconnected and may have missed some). It
/// stops when `stop` turns true or the workers are gone.
pub fn listen(database_url: String, stop: watch::Receiver<bool>) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    listen::spawn(database_url, "deployments_queued", move |heard| {
        if *stop.borrow() || stop.has_changed().is_err() || tx.is_closed() {
            return false;
        }
        match heard {
            // Anything queued while there was no listener is found by a poll.
            Heard::Connected => tx.send_modify(|n| *n += 1),
            Heard::Payloads([]) => {}
            Heard::Payloads(_) => tx.send_modify(|n| *n += 1),
        }
        true
    });
    rx
}
