//! Signing in: throttled per account in the database, every attempt audited,
//! and the same answer in about the same time whether the user exists or not.
//!
//! An attempt has three parts so that no database connection is held while
//! argon2 runs (tens of milliseconds each; a burst of logins holding
//! connections through it would leave none for pages):
//!
//! 1. [`begin`]: under a per-username advisory lock, decide whether the
//!    account is locked and, if not, reserve the attempt by recording it as
//!    a failure. Parallel guesses are serialised here, and each one sees
//!    the reservations before it, so no more guesses are evaluated than the
//!    throttle allows.
//! 2. [`check_password`]: the slow part, with no connection.
//! 3. [`finish`]: turn the reservation into a success if the password was
//!    right, and write the audit event.
//!
//! If the third part never happens (the process dies), the reservation stays
//! a failure: the throttle errs towards refusing.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::throttle;
use super::users::{self, MAX_USERNAME_LEN, User};
use crate::crypto::password;
use crate::db::schema::login_attempts;

#[derive(Debug)]
pub enum LoginOutcome {
    Success(User),
    /// Wrong password, unknown or disabled user, or throttled: the caller
    /// shows one generic message for all of them.
    Refused,
}

/// An attempt after [`begin`].
#[derive(Debug)]
pub struct Attempt {
    username: String,
    client_addr: Option<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Locked out; already recorded and audited.
    Throttled,
    /// Reserved as the `login_attempts` row `attempt_id` (a failure until
    /// [`finish`] says otherwise).
    Reserved { attempt_id: i64, user: Option<User> },
}

/// What [`check_password`] found.
#[derive(Debug)]
pub struct Verdict(Result<(), &'static str>);

/// Decides whether this attempt may be evaluated, and reserves it if so.
/// Quick: holds the connection for a few queries only.
pub fn begin(
    conn: &mut PgConnection,
    raw_username: &str,
    client_addr: Option<String>,
) -> QueryResult<Attempt> {
    let mut username = users::normalize_username(raw_username);
    username.truncate(
        username
            .char_indices()
            .nth(MAX_USERNAME_LEN)
            .map_or(username.len(), |(i, _)| i),
    );
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<Text, _>(&username)
            .execute(conn)?;
        let now = Utc::now();
        let since = now - throttle::lookback();
        let last_success: Option<chrono::DateTime<Utc>> = login_attempts::table
            .filter(login_attempts::username.eq(&username))
            .filter(login_attempts::outcome.eq("success"))
            .filter(login_attempts::at.gt(since))
            .select(diesel::dsl::max(login_attempts::at))
            .first(conn)?;
        // Reservations still being evaluated count here as the failures
        // they are recorded as.
        let failures: Vec<chrono::DateTime<Utc>> = login_attempts::table
            .filter(login_attempts::username.eq(&username))
            .filter(login_attempts::outcome.eq("failure"))
            .filter(login_attempts::at.gt(last_success.unwrap_or(since).max(since)))
            .select(login_attempts::at)
            .load(conn)?;
        let user = users::find_by_username(conn, &username)?;

        if let Some(until) = throttle::locked_until(&failures, now) {
            record_attempt(conn, &username, "throttled", client_addr.as_deref())?;
            audit::record(
                conn,
                &actor(&username, user.as_ref(), client_addr.as_deref()),
                Event::new("login.throttled", "user", &username)
                    .details(json!({ "locked_until": until.to_rfc3339() })),
            )?;
            return Ok(Attempt {
                username,
                client_addr,
                state: State::Throttled,
            });
        }
        let attempt_id = record_attempt(conn, &username, "failure", client_addr.as_deref())?;
        Ok(Attempt {
            username,
            client_addr,
            state: State::Reserved { attempt_id, user },
        })
    })
}

impl Attempt {
    /// Whether [`finish`] has anything to record (a locked-out attempt was
    /// recorded by [`begin`]).
    pub fn needs_finish(&self) -> bool {
        matches!(self.state, State::Reserved { .. })
    }
}

/// Verifies the password: slow by design, so call it on a blocking thread
/// and with no database connection held. Unknown users and locked accounts
/// cost the same time, against a dummy hash.
pub fn check_password(attempt: &Attempt, password_plain: &str) -> Verdict {
    match &attempt.state {
        State::Reserved {
            user: Some(user), ..
        } if user.is_service => {
            // Holds tokens, never a session: no password can open it.
            password::verify_dummy(password_plain);
            Verdict(Err("service_account"))
        }
        State::Reserved {
            user: Some(user), ..
        } => {
            if !password::verify(password_plain, &user.password_hash) {
                Verdict(Err("wrong_password"))
            } else if user.disabled {
                Verdict(Err("disabled"))
            } else {
                Verdict(Ok(()))
            }
        }
        State::Reserved { user: None, .. } => {
            password::verify_dummy(password_plain);
            Verdict(Err("unknown_user"))
        }
        State::Throttled => {
            password::verify_dummy(password_plain);
            Verdict(Err("throttled"))
        }
    }
}

/// Records the verdict (a success replaces the reservation's failure) and
/// its audit event.
pub fn finish(
    conn: &mut PgConnection,
    attempt: Attempt,
    verdict: Verdict,
) -> QueryResult<LoginOutcome> {
    let State::Reserved { attempt_id, user } = attempt.state else {
        return Ok(LoginOutcome::Refused);
    };
    let actor = actor(
        &attempt.username,
        user.as_ref(),
        attempt.client_addr.as_deref(),
    );
    conn.transaction(|conn| match (verdict.0, user) {
        (Ok(()), Some(user)) => {
            diesel::update(login_attempts::table.find(attempt_id))
                .set(login_attempts::outcome.eq("success"))
                .execute(conn)?;
            audit::record(
                conn,
                &actor,
                Event::new("login.succeeded", "user", &attempt.username),
            )?;
            Ok(LoginOutcome::Success(user))
        }
        (verdict, _) => {
            let reason = verdict.err().unwrap_or("unknown_user");
            audit::record(
                conn,
                &actor,
                Event::new("login.failed", "user", &attempt.username)
                    .details(json!({ "reason": reason })),
            )?;
            Ok(LoginOutcome::Refused)
        }
    })
}

fn actor(username: &str, user: Option<&User>, client_addr: Option<&str>) -> Actor {
    Actor {
        user_id: user.map(|u| u.id),
        name: username.to_owned(),
        is_admin: false,
        client_addr: client_addr.map(str::to_owned),
        scope: None,
        token_id: None,
    }
}

fn record_attempt(
    conn: &mut PgConnection,
    username: &str,
    outcome: &str,
    client_addr: Option<&str>,
) -> QueryResult<i64> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::username.eq(username),
            login_attempts::outcome.eq(outcome),
            login_attempts::client_addr.eq(client_addr),
        ))
        .returning(login_attempts::id)
        .get_result(conn)
}
