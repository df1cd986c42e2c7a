//! Idempotency keys: a CI job that retries a create (its connection dropped,
//! its runner restarted) sends the same `Idempotency-Key` and gets the first
//! answer, and nothing is created twice. A key belongs to the token that
//! sent it and to that request's body; the same key with another body is
//! refused. Kept at least [`KEPT`].
//!
//! The caller runs [`reserve`], its work and [`complete`] (or [`forget`])
//! in one transaction: a second request with the key waits on the first's
//! row until it commits, then replays its answer.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::idempotency_keys;

/// How long a key is remembered.
pub const KEPT: Duration = Duration::hours(24);

/// What a key allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// New: do the work, then [`complete`] or [`forget`].
    Fresh,
    /// Done before with this body: answer this again.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// Used before with another body.
    Mismatch,
}

/// Whether `key` may be used as an idempotency key: 1 to 255 visible ASCII
/// characters.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        Some("Use 1 to 255 visible ASCII characters as the Idempotency-Key (a UUID, say).")
    } else {
        None
    }
}

/// The request a key is bound to: its method, path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// Takes `key` for this request, or says how it was used before.
pub fn reserve(
    conn: &mut PgConnection,
    token_id: i64,
    key: &str,
    hash: &[u8],
) -> QueryResult<Reserved> {
    let taken = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::token_id.eq(token_id),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if taken == 1 {
        return Ok(Reserved::Fresh);
    }
    let (stored_hash, status, body): (Vec<u8>, Option<i16>, Option<serde_json::Value>) =
        idempotency_keys::table
            .find((token_id, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status,
                idempotency_keys::response,
            ))
            .first(conn)?;
    if stored_hash != hash {
        return Ok(Reserved::Mismatch);
    }
    Ok(match (status, body) {
        (Some(status), Some(body)) => Reserved::Replay {
            status: u16::try_from(status).unwrap_or(200),
            body,
        },
        // A row without an answer is one whose request is still in its
        // transaction: the insert above waited for it, so this cannot be
        // seen; take it as new rather than fail.
        _ => Reserved::Fresh,
    })
}

/// Records the answer the key will replay.
pub fn complete(
    conn: &mut PgConnection,
    token_id: i64,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((token_id, key)))
        .set((
            idempotency_keys::status.eq(i16::try_from(status).unwrap_or(200)),
            idempotency_keys::response.eq(body),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Frees the key: the request was refused, and a retry should be judged
/// afresh.
pub fn forget(conn: &mut PgConnection, token_id: i64, key: &str) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find((token_id, key)))
        .execute(conn)
        .map(|_| ())
}

/// Removes keys older than [`KEPT`].
pub fn sweep(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(Utc::now() - KEPT)),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(key_problem("7f1c2d9e-1b2a-4c3d-9e8f-0a1b2c3d4e5f").is_none());
        assert!(key_problem("").is_some());
        assert!(key_problem("has space").is_some());
        assert!(key_problem("ünïcode").is_some());
        assert!(key_problem(&"k".repeat(256)).is_some());
    }

    #[test]
    fn a_key_is_bound_to_method_path_and_body() {
        let a = request_hash("POST", "/api/v1/x", b"{}");
        assert_eq!(a, request_hash("POST", "/api/v1/x", b"{}"));
        assert_ne!(a, request_hash("POST", "/api/v1/y", b"{}"));
        assert_ne!(a, request_hash("POST", "/api/v1/x", b"{ }"));
    }
}
