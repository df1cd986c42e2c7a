//! Signing in: throttled per account in the database, every attempt audited,
//! and the same answer in about the same time whether the user exists or not.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::throttle;
use super::users::{self, MAX_USERNAME_LEN, User};
use crate::auth::password;
use crate::db::schema::login_attempts;

#[derive(Debug)]
pub enum LoginOutcome {
    Success(User),
    /// Wrong password, unknown or disabled user, or throttled: the caller
    /// shows one generic message for all of them.
    Refused,
}

/// Checks a username and password, recording the attempt and its audit
/// event. Serialised per username (advisory lock) so parallel guesses
/// cannot slip past the throttle. Slow by design: call on a blocking thread.
pub fn attempt(
    conn: &mut PgConnection,
    raw_username: &str,
    password_plain: &str,
    client_addr: Option<String>,
) -> QueryResult<LoginOutcome> {
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
        let failures: Vec<chrono::DateTime<Utc>> = login_attempts::table
            .filter(login_attempts::username.eq(&username))
            .filter(login_attempts::outcome.eq("failure"))
            .filter(login_attempts::at.gt(last_success.unwrap_or(since).max(since)))
            .select(login_attempts::at)
            .load(conn)?;
        let user = users::find_by_username(conn, &username)?;
        let actor = Actor {
            user_id: user.as_ref().map(|u| u.id),
            name: username.clone(),
            is_admin: false,
            client_addr: client_addr.clone(),
        };

        if let Some(until) = throttle::locked_until(&failures, now) {
            password::verify_dummy(password_plain);
            record_attempt(conn, &username, "throttled", &client_addr)?;
            audit::record(
                conn,
                &actor,
                Event::new("login.throttled", "user", &username)
                    .details(json!({ "locked_until": until.to_rfc3339() })),
            )?;
            return Ok(LoginOutcome::Refused);
        }

        let (outcome, reason) = match user {
            Some(user) if password::verify(password_plain, &user.password_hash) => {
                if user.disabled {
                    (LoginOutcome::Refused, Some("disabled"))
                } else {
                    (LoginOutcome::Success(user), None)
                }
            }
            Some(_) => (LoginOutcome::Refused, Some("wrong_password")),
            None => {
                password::verify_dummy(password_plain);
                (LoginOutcome::Refused, Some("unknown_user"))
            }
        };
        match reason {
            None => {
                record_attempt(conn, &username, "success", &client_addr)?;
                audit::record(
                    conn,
                    &actor,
                    Event::new("login.succeeded", "user", &username),
                )?;
            }
            Some(reason) => {
                record_attempt(conn, &username, "failure", &client_addr)?;
                audit::record(
                    conn,
                    &actor,
                    Event::new("login.failed", "user", &username)
                        .details(json!({ "reason": reason })),
                )?;
            }
        }
        Ok(outcome)
    })
}

fn record_attempt(
    conn: &mut PgConnection,
    username: &str,
    outcome: &str,
    client_addr: &Option<String>,
) -> QueryResult<()> {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::username.eq(username),
            login_attempts::outcome.eq(outcome),
            login_attempts::client_addr.eq(client_addr),
        ))
        .execute(conn)?;
    Ok(())
}
