//! Wakes idle workers the moment a deployment is queued, instead of at
//! their next poll. The database announces it (`NOTIFY deployments_queued`,
//! sent by a trigger when the queuing transaction commits, whichever path
//! queued it); one listener per process holds its own connection with
//! `LISTEN` and bumps a counter the workers wait on. Reading pending
//! notifications is a non-blocking socket read, not a query.
//!
//! Polling stays as the fallback: a lost listener connection (the database
//! restarting) only makes workers as slow as before until it reconnects.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::watch;

/// How often the listener reads its socket for notifications.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// Pause before reconnecting after the connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Starts the listener on its own thread; the receiver's value changes
/// whenever deployments were queued. It stops when `stop` turns true.
pub fn listen(database_url: String, stop: watch::Receiver<bool>) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    let started = std::thread::Builder::new()
        .name("deployment-wake".to_owned())
        .spawn(move || run(&database_url, &tx, &stop));
    if let Err(err) = started {
        // The workers still poll; they only lose the prompt start.
        tracing::error!("starting the wake listener thread: {err}");
    }
    rx
}

/// Stop when asked, or when nobody waits any more (the workers are gone).
fn done(tx: &watch::Sender<u64>, stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err() || tx.is_closed()
}

fn run(database_url: &str, tx: &watch::Sender<u64>, stop: &watch::Receiver<bool>) {
    while !done(tx, stop) {
        let mut conn = match connect(database_url) {
            Ok(conn) => conn,
            Err(err) => {
                tracing::debug!("wake listener cannot connect: {err}");
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        // Anything queued while there was no listener is found by a poll.
        tx.send_modify(|n| *n += 1);
        while !done(tx, stop) {
            let mut woke = false;
            let mut broken = false;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(_) => woke = true,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if woke {
                tx.send_modify(|n| *n += 1);
            }
            if broken {
                break;
            }
            std::thread::sleep(CHECK_EVERY);
        }
    }
}

fn connect(database_url: &str) -> diesel::QueryResult<PgConnection> {
    let mut conn = PgConnection::establish(database_url)
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    diesel::sql_query("LISTEN deployments_queued").execute(&mut conn)?;
    Ok(conn)
}
