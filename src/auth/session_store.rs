//! actix-session's store on PostgreSQL: sessions live server-side, survive
//! restarts, can be ended at once (logout, disabled user, new password), and
//! any app process can serve any session.
//!
//! The browser holds a 256-bit random key; the table holds only its SHA-256,
//! the state, the user it belongs to, an idle expiry pushed forward on every
//! request, and an absolute expiry fixed when the session (re)starts.
//!
//! Only signed-in sessions are stored: a state with no user is never
//! written, so a visitor who has not signed in cannot add rows (the login
//! form's CSRF token lives in a signed cookie instead, see
//! [`super::login_csrf`]).

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::sessions;
use crate::db::{self, DbPool};

/// The session-state key holding the signed-in user's id; mirrored into the
/// `user_id` column so all of a user's sessions can be ended at once.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone)]
pub struct PgSessionStore {
    pool: DbPool,
    absolute_ttl: Duration,
}

impl PgSessionStore {
    pub fn new(pool: DbPool, absolute_ttl: Duration) -> Self {
        Self { pool, absolute_ttl }
    }
}

type State = HashMap<String, String>;

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn user_id_of(state: &State) -> Option<i64> {
    state
        .get(USER_ID_KEY)
        .and_then(|raw| serde_json::from_str::<i64>(raw).ok())
}

fn expiry(ttl: &CookieDuration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds())
}

fn new_key() -> anyhow::Result<SessionKey> {
    SessionKey::try_from(crate::auth::random::token_hex(32)).map_err(anyhow::Error::from)
}

/// Inserts a fresh row and returns its key.
fn insert(
    conn: &mut PgConnection,
    state: &State,
    ttl: &CookieDuration,
    absolute_ttl: Duration,
) -> anyhow::Result<SessionKey> {
    let key = new_key()?;
    let now = Utc::now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(key_hash(key.as_ref())),
            sessions::state.eq(serde_json::to_value(state)?),
            sessions::user_id.eq(user_id_of(state)),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expiry(ttl)),
            sessions::absolute_expires_at.eq(now + chrono::Duration::from_std(absolute_ttl)?),
        ))
        .execute(conn)?;
    Ok(key)
}

/// Deletes sessions past either expiry. Run periodically by the server.
pub fn sweep_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    let now = Utc::now();
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::absolute_expires_at.le(now)),
        ),
    )
    .execute(conn)
}

/// Ends every session of `user_id` (admin "end sessions", and the triggers
/// on disable and password change do the same in the database).
pub fn end_all_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = key_hash(session_key.as_ref());
        let state = db::run(&self.pool, move |conn| {
            let now = Utc::now();
            sessions::table
                .filter(sessions::key_hash.eq(hash))
                .filter(sessions::expires_at.gt(now))
                .filter(sessions::absolute_expires_at.gt(now))
                .select(sessions::state)
                .first::<serde_json::Value>(conn)
                .optional()
        })
        .await
        .map_err(|e| LoadError::Other(anyhow::Error::new(e)))?;
        state
            .map(serde_json::from_value::<State>)
            .transpose()
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        if user_id_of(&state).is_none() {
            // Nothing worth a row: hand out a key that loads as empty.
            tracing::debug!("not storing a session with no user");
            return new_key().map_err(SaveError::Other);
        }
        let ttl = *ttl;
        let absolute = self.absolute_ttl;
        db::run(&self.pool, move |conn| insert(conn, &state, &ttl, absolute))
            .await
            .map_err(|e| SaveError::Other(anyhow::anyhow!("{e:#}")))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let ttl = *ttl;
        db::run(&self.pool, move |conn| -> anyhow::Result<SessionKey> {
            let updated = diesel::update(
                sessions::table
                    .filter(sessions::key_hash.eq(key_hash(session_key.as_ref())))
                    .filter(sessions::absolute_expires_at.gt(Utc::now())),
            )
            .set((
                sessions::state.eq(serde_json::to_value(&state)?),
                sessions::user_id.eq(user_id_of(&state)),
                sessions::expires_at.eq(expiry(&ttl)),
            ))
            .execute(conn)?;
            if updated == 1 {
                return Ok(session_key);
            }
            // The session was ended while this request ran (logout elsewhere,
            // user disabled): never resurrect it; a new key loads as empty.
            new_key()
        })
        .await
        .map_err(|e| UpdateError::Other(anyhow::anyhow!("{e:#}")))
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        let ttl = *ttl;
        db::run(&self.pool, move |conn| {
            diesel::update(sessions::table.filter(sessions::key_hash.eq(hash)))
                .set(sessions::expires_at.eq(expiry(&ttl)))
                .execute(conn)
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        db::run(&self.pool, move |conn| {
            diesel::delete(sessions::table.filter(sessions::key_hash.eq(hash))).execute(conn)
        })
        .await?;
        Ok(())
    }
}
