//! One `LISTEN` per process and channel, on its own connection and thread:
//! how the app hears what the database announces (`NOTIFY`, sent by
//! triggers when a change commits, whichever path made it). Reading
//! pending notifications is a non-blocking socket read, not a query, so
//! any number of waiters cost one connection and no polling of tables.
//!
//! A lost connection (the database restarting) is re-made; `on_connect`
//! runs each time, so a caller can treat "maybe missed something" as news.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

/// How often the listener reads its socket for notifications.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// Pause before reconnecting after the connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a listener hears.
pub enum Heard<'a> {
    /// (Re)connected: anything sent while away was missed.
    Connected,
    /// The payloads of the notifications read in one go.
    Payloads(&'a [String]),
}

/// Listens on `channel` from a thread of its own until `on` answers
/// `false` (nobody wants to hear any more).
pub fn spawn(
    database_url: String,
    channel: &'static str,
    mut on: impl FnMut(Heard<'_>) -> bool + Send + 'static,
) {
    let started = std::thread::Builder::new()
        .name(format!("listen-{channel}"))
        .spawn(move || run(&database_url, channel, &mut on));
    if let Err(err) = started {
        // Callers fall back on polling or their time-outs.
        tracing::error!("starting the {channel} listener thread: {err}");
    }
}

fn run(database_url: &str, channel: &str, on: &mut impl FnMut(Heard<'_>) -> bool) {
    loop {
        let mut conn = match connect(database_url, channel) {
            Ok(conn) => conn,
            Err(err) => {
                tracing::debug!("{channel} listener cannot connect: {err}");
                if !on(Heard::Payloads(&[])) {
                    return;
                }
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
        };
        if !on(Heard::Connected) {
            return;
        }
        loop {
            let mut payloads = Vec::new();
            let mut broken = false;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => payloads.push(n.payload),
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if !on(Heard::Payloads(&payloads)) {
                return;
            }
            if broken {
                break;
            }
            std::thread::sleep(CHECK_EVERY);
        }
    }
}

fn connect(database_url: &str, channel: &str) -> diesel::QueryResult<PgConnection> {
    let mut conn = PgConnection::establish(database_url)
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    // The channel is one of this program's constants, never user text.
    diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)?;
    Ok(conn)
}
