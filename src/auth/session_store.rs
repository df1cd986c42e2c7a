//! actix-session's store on PostgreSQL: sessions live server-side, survive
//! restarts, can be ended at once (logout, disabled user, new password), and
//! any app process can serve any session.
//!
//! The browser holds a 256-bit random key; the table holds only its SHA-256,
//! the state, the user it belongs to, an idle expiry pushed forward by
//! activity, and an absolute expiry fixed when the session (re)starts.
//!
//! A request's fixed cost is one statement: the load reads the session, its
//! user and the header's approvals count together (kept for the request,
//! see [`loaded_user`]), and a plain GET writes nothing. The count is made
//! again only when something was committed since this server last made it
//! for the session (the statement's snapshot differs; see the database's
//! `pending_approvals`). The idle expiry is
//! written when it has fallen [`ttl_slack`] behind (a minute, for the
//! 30-minute default): a session may end up to that much before its idle
//! timeout, never after.
//!
//! Only signed-in sessions are stored: a state with no user is never
//! written, so a visitor who has not signed in cannot add rows (the login
//! form's CSRF token lives in a signed cookie instead, see
//! [`super::login_csrf`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::db::{self, DbPool};
use crate::domain::ids::UserId;
use crate::domain::sessions;

/// The session-state key holding the signed-in user's id; mirrored into the
/// `user_id` column so all of a user's sessions can be ended at once.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone)]
pub struct PgSessionStore {
    pool: DbPool,
    absolute_ttl: Duration,
    counts: Arc<Counts>,
}

/// The header's count of recently loaded sessions (by key hash), with the
/// snapshot it was made under: while that is still the database's, the
/// load does not count again.
type Counts = Mutex<LruCache<String, (Arc<str>, i64)>>;

/// Sessions whose count is kept; one more than this counts afresh.
const COUNTS_KEPT: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

impl PgSessionStore {
    pub fn new(pool: DbPool, absolute_ttl: Duration) -> Self {
        Self {
            pool,
            absolute_ttl,
            counts: Arc::new(Mutex::new(LruCache::new(COUNTS_KEPT))),
        }
    }

    fn known_count(&self, hash: &str) -> Option<(Arc<str>, i64)> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    fn keep_count(&self, hash: String, snapshot: Arc<str>, count: i64) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(hash, (snapshot, count));
    }
}

type State = HashMap<String, String>;

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn user_id_of(state: &State) -> Option<UserId> {
    state
        .get(USER_ID_KEY)
        .and_then(|raw| serde_json::from_str::<UserId>(raw).ok())
}

fn expiry(ttl: &CookieDuration) -> DateTime<Utc> {
    Utc::now()
        + chrono::Duration::milliseconds(ttl.whole_milliseconds().try_into().unwrap_or(i64::MAX))
}

/// How far the stored idle expiry may fall behind "now + idle timeout"
/// before a request writes it: a minute, or a thirtieth of a shorter
/// timeout (so a timeout of seconds, as in tests, still holds).
pub fn ttl_slack(ttl: &CookieDuration) -> chrono::Duration {
    let thirtieth = chrono::Duration::milliseconds(
        (ttl.whole_milliseconds() / 30)
            .try_into()
            .unwrap_or(i64::MAX),
    );
    thirtieth.min(chrono::Duration::minutes(1))
}

/// The signed-in user as the session's load found them.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    /// Deployments waiting for this user's approval (the header's count).
    pub pending_approvals: i64,
}

/// What this request's load read, for the rest of the request.
struct Loaded {
    key_hash: String,
    expires_at: DateTime<Utc>,
    /// `None` when the session's user is disabled or gone.
    user: Option<SessionUser>,
    /// The database snapshot the load read under.
    snapshot: Arc<str>,
}

tokio::task_local! {
    static LOADED: RefCell<Option<Loaded>>;
}

/// Runs one request's handling with room for what the session's load
/// reads, so the user extractor and the TTL extension need not ask the
/// database again. (The store has no access to the request itself.)
pub async fn request_scope<F: Future>(handling: F) -> F::Output {
    LOADED.scope(RefCell::new(None), handling).await
}

/// The user this request's session load found, if it loaded the session of
/// `user_id`: `Some(None)` means that user is no longer active. `None` when
/// nothing was loaded (outside [`request_scope`]): ask the database.
pub fn loaded_user(user_id: UserId) -> Option<Option<SessionUser>> {
    LOADED
        .try_with(|loaded| {
            let loaded = loaded.borrow();
            let loaded = loaded.as_ref()?;
            match &loaded.user {
                Some(user) if user.id == user_id => Some(Some(user.clone())),
                Some(_) => None,
                None => Some(None),
            }
        })
        .ok()
        .flatten()
}

/// The database snapshot this request's session load read under, if it
/// loaded one: what the request's page reads may be kept by
/// (`routes::read_cache`).
pub fn loaded_snapshot() -> Option<Arc<str>> {
    LOADED
        .try_with(|loaded| Some(loaded.borrow().as_ref()?.snapshot.clone()))
        .ok()
        .flatten()
}

/// The signed-in user in a loaded row, if the session has an active one.
fn user_of(row: &sessions::Loaded, pending_approvals: i64) -> Option<SessionUser> {
    Some(SessionUser {
        id: row.user_id?,
        username: row.username.clone()?,
        display_name: row.display_name.clone()?,
        is_admin: row.is_admin?,
        pending_approvals,
    })
}

fn new_key() -> anyhow::Result<SessionKey> {
    SessionKey::try_from(crate::crypto::random::token_hex(32)).map_err(anyhow::Error::from)
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
    sessions::insert(
        conn,
        &sessions::NewSession {
            key_hash: key_hash(key.as_ref()),
            state: serde_json::to_value(state)?,
            user_id: user_id_of(state),
            created_at: now,
            expires_at: expiry(ttl),
            absolute_expires_at: now + chrono::Duration::from_std(absolute_ttl)?,
        },
    )?;
    Ok(key)
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = key_hash(session_key.as_ref());
        let known = self.known_count(&hash);
        let row = db::run_and_keep(&self.pool, {
            let hash = hash.clone();
            let known = known.as_ref().map(|(snapshot, _)| snapshot.clone());
            move |conn| sessions::load(conn, &hash, Utc::now(), known.as_deref())
        })
        .await
        .map_err(|e| LoadError::Other(anyhow::Error::new(e)))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let snapshot: Arc<str> = row.snapshot.as_str().into();
        let pending = match (row.pending_approvals, known) {
            (Some(counted), _) => {
                if row.user_id.is_some() {
                    self.keep_count(hash.clone(), snapshot.clone(), counted);
                }
                counted
            }
            // Nothing committed since the count we hold was made.
            (None, Some((_, kept))) => kept,
            (None, None) => {
                return Err(LoadError::Other(anyhow::anyhow!(
                    "the session's load skipped a count it was not given"
                )));
            }
        };
        let _ = LOADED.try_with(|loaded| {
            loaded.replace(Some(Loaded {
                key_hash: hash,
                expires_at: row.expires_at,
                user: user_of(&row, pending),
                snapshot,
            }))
        });
        serde_json::from_value::<State>(row.state)
            .map(Some)
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
            let updated = sessions::update_state(
                conn,
                &key_hash(session_key.as_ref()),
                serde_json::to_value(&state)?,
                user_id_of(&state),
                expiry(&ttl),
            )?;
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

    /// Called after every request that left the state unchanged: writes
    /// only when the stored expiry has fallen [`ttl_slack`] behind.
    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        let wanted = expiry(ttl);
        let slack = ttl_slack(ttl);
        let stored = LOADED
            .try_with(|loaded| {
                let loaded = loaded.borrow();
                let loaded = loaded.as_ref().filter(|l| l.key_hash == hash)?;
                Some(loaded.expires_at)
            })
            .ok()
            .flatten();
        if stored.is_some_and(|stored| wanted - stored < slack) {
            return Ok(());
        }
        // The condition again in SQL: requests of one session in parallel
        // write once, and without a load to go by nothing is written early.
        let extended = db::run(&self.pool, move |conn| {
            sessions::extend(conn, &hash, wanted, wanted - slack)
        })
        .await;
        match extended {
            // A read-only database still serves reads: the expiry moves on
            // a later request, within the same minute of slack.
            Err(db::RunError::Work(err)) if db::is_read_only(&err) => {
                tracing::warn!("database read-only: the session's expiry was not extended");
                Ok(())
            }
            other => Ok(other.map(|_| ())?),
        }
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        db::run(&self.pool, move |conn| sessions::delete(conn, &hash)).await?;
        Ok(())
    }
}
