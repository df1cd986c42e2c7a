//! The `sessions` table: what the web layer's session store
//! (`auth::session_store`) reads and writes per request, and what the
//! domain does to sessions: end a user's (disabled, new password, an
//! admin's "end sessions") and sweep expired ones.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};

use crate::db::schema::sessions;
use crate::domain::ids::UserId;

/// One row of a request's load: the session, its user (if active) and the
/// user's count of deployments waiting for their approval.
#[derive(QueryableByName)]
pub struct Loaded {
    #[diesel(sql_type = Jsonb)]
    pub state: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_id: Option<UserId>,
    #[diesel(sql_type = Nullable<Text>)]
    pub username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub is_admin: Option<bool>,
    /// `None` when the caller's known snapshot is this statement's: the
    /// count it holds still stands (see [`load`]).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub pending_approvals: Option<i64>,
    /// The database's MVCC snapshot this statement read under: what a
    /// page read may be kept by (`routes::read_cache`).
    #[diesel(sql_type = Text)]
    pub snapshot: String,
}

/// The session (unexpired), its user when active, and the user's count.
const LOAD_SQL: &str = "\
    SELECT s.state, s.expires_at, u.id AS user_id, u.username, u.display_name, u.is_admin, \
           CASE WHEN u.id IS NULL THEN 0 \
                ELSE pending_approvals(u.id, u.is_admin, $3) END AS pending_approvals, \
           pg_current_snapshot()::text AS snapshot \
      FROM sessions s \
      LEFT JOIN users u ON u.id = s.user_id AND NOT u.disabled \
     WHERE s.key_hash = $1 AND s.expires_at > $2 AND s.absolute_expires_at > $2";

/// The session stored under `key_hash`, if it has not expired by `now`:
/// a request's whole fixed cost, in one prepared statement. `known` is the
/// snapshot under which the caller last counted this session's approvals:
/// if it is still the database's, the count is not made again (and comes
/// back `None`).
pub fn load(
    conn: &mut PgConnection,
    key_hash: &str,
    now: DateTime<Utc>,
    known: Option<&str>,
) -> QueryResult<Option<Loaded>> {
    crate::db::prepared(
        diesel::sql_query(LOAD_SQL)
            .bind::<Text, _>(key_hash)
            .bind::<Timestamptz, _>(now)
            .bind::<Nullable<Text>, _>(known),
    )
    .get_result(conn)
    .optional()
}

/// A session to store.
pub struct NewSession {
    pub key_hash: String,
    pub state: serde_json::Value,
    pub user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
}

pub fn insert(conn: &mut PgConnection, new: &NewSession) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(&new.key_hash),
            sessions::state.eq(&new.state),
            sessions::user_id.eq(new.user_id),
            sessions::created_at.eq(new.created_at),
            sessions::expires_at.eq(new.expires_at),
            sessions::absolute_expires_at.eq(new.absolute_expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Writes a session's new state, unless it has ended (then 0 rows: a
/// session ended while a request ran is never brought back).
pub fn update_state(
    conn: &mut PgConnection,
    key_hash: &str,
    state: serde_json::Value,
    user_id: Option<UserId>,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::absolute_expires_at.gt(Utc::now())),
    )
    .set((
        sessions::state.eq(state),
        sessions::user_id.eq(user_id),
        sessions::expires_at.eq(expires_at),
    ))
    .execute(conn)
}

/// Moves the idle expiry to `to` if it is still before `behind`: requests
/// of one session in parallel write it once.
pub fn extend(
    conn: &mut PgConnection,
    key_hash: &str,
    to: DateTime<Utc>,
    behind: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::expires_at.lt(behind)),
    )
    .set(sessions::expires_at.eq(to))
    .execute(conn)
}

pub fn delete(conn: &mut PgConnection, key_hash: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::key_hash.eq(key_hash))).execute(conn)
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
pub fn end_all_for_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// How many unexpired sessions `user_id` has (the admin's user page).
pub fn open_count(conn: &mut PgConnection, user_id: UserId) -> QueryResult<i64> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(Utc::now()))
        .count()
        .get_result(conn)
}
