//! Users: lookups, creation, disabling and password changes. Ending a
//! user's sessions on disable or password change is held by a trigger on
//! `users`, so every path that makes the change ends them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use crate::crypto::password;
use crate::db::schema::users;
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
    /// A service account: holds API tokens and grants, never signs in.
    pub is_service: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    username: &'a str,
    display_name: &'a str,
    password_hash: &'a str,
    is_admin: bool,
    is_service: bool,
}

pub const MAX_USERNAME_LEN: usize = 64;

/// Usernames are compared and stored in lower case, trimmed.
pub fn normalize_username(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// `None` when acceptable, else the message for the field.
pub fn username_problem(username: &str) -> Option<&'static str> {
    let mut chars = username.chars();
    match chars.next() {
        None => Some("Enter a username."),
        Some(first) if !(first.is_ascii_lowercase() || first.is_ascii_digit()) => {
            Some("Start with a letter or digit.")
        }
        _ if username.len() > MAX_USERNAME_LEN => Some("Use at most 64 characters."),
        _ if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)) => {
            Some("Use only letters, digits, dots, dashes and underscores.")
        }
        _ => None,
    }
}

pub fn find(conn: &mut PgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user, unless disabled.
pub fn find_active(conn: &mut PgConnection, id: UserId) -> QueryResult<Option<User>> {
    Ok(find(conn, id)?.filter(|u| !u.disabled))
}

pub fn find_by_username(conn: &mut PgConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(normalize_username(username)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username: {0}")]
    Username(&'static str),
    #[error("username is taken")]
    UsernameTaken,
    /// A combination the rules refuse; the text says which.
    #[error("{0}")]
    Refused(&'static str),
    #[error("display name: {0}")]
    DisplayName(&'static str),
    #[error("password: {0}")]
    Password(#[from] password::PasswordPolicyError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Hash(#[from] anyhow::Error),
}

/// A new user's name, checked: normalised username and display name (the
/// username when left empty).
fn names(username: &str, display_name: &str) -> Result<(String, String), CreateUserError> {
    let username = normalize_username(username);
    if let Some(problem) = username_problem(&username) {
        return Err(CreateUserError::Username(problem));
    }
    if let Some(problem) = super::validation::line_problem(display_name) {
        return Err(CreateUserError::DisplayName(problem));
    }
    let display_name = match display_name.trim() {
        "" => username.clone(),
        name => name.to_owned(),
    };
    Ok((username, display_name))
}

/// Inserts the user and its audit event, in one transaction.
fn insert(
    conn: &mut PgConnection,
    actor: &Actor,
    new: &NewUser<'_>,
    details: serde_json::Value,
) -> Result<User, CreateUserError> {
    conn.transaction(|conn| {
        let user = diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => CreateUserError::UsernameTaken,
                other => other.into(),
            })?;
        let mut details = details;
        details["username"] = json!(user.username);
        audit::record(
            conn,
            actor,
            Event::new("user.created", "user", user.id).details(details),
        )?;
        Ok(user)
    })
}

/// Creates a user with an argon2id hash of `password`. Slow: call on a
/// blocking thread.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    display_name: &str,
    password_plain: &str,
    is_admin: bool,
) -> Result<User, CreateUserError> {
    let (username, display_name) = names(username, display_name)?;
    password::check_policy(password_plain)?;
    let hash = password::hash(password_plain)?;
    let new = NewUser {
        username: &username,
        display_name: &display_name,
        password_hash: &hash,
        is_admin,
        is_service: false,
    };
    insert(conn, actor, &new, json!({ "admin": is_admin }))
}

/// Creates a service account: a user for CI that holds grants and API
/// tokens and cannot sign in (no password; the database refuses it a
/// session). Audited.
pub fn create_service(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    display_name: &str,
) -> Result<User, CreateUserError> {
    let (username, display_name) = names(username, display_name)?;
    let new = NewUser {
        username: &username,
        display_name: &display_name,
        // Not a hash any password verifies against.
        password_hash: "!service-account",
        is_admin: false,
        is_service: true,
    };
    insert(conn, actor, &new, json!({ "service_account": true }))
}

/// Disables or re-enables a user. Disabling ends all their sessions (trigger).
pub fn set_disabled(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
    disabled: bool,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let username: String = diesel::update(users::table.find(user_id))
            .set((
                users::disabled.eq(disabled),
                users::updated_at.eq(Utc::now()),
            ))
            .returning(users::username)
            .get_result(conn)?;
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        audit::record(
            conn,
            actor,
            Event::new(action, "user", user_id).details(json!({ "username": username })),
        )
    })
}

/// What was wrong with a password change, field by field.
#[derive(Debug, Clone, Default)]
pub struct PasswordChangeErrors {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub confirm_password: Option<String>,
}

impl PasswordChangeErrors {
    pub fn is_empty(&self) -> bool {
        self.current_password.is_none()
            && self.new_password.is_none()
            && self.confirm_password.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("the password change was not valid")]
    Invalid(PasswordChangeErrors),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Hash(#[from] anyhow::Error),
}

/// Changes the user's own password after checking the current one. Ends
/// every session of the user (trigger), this one included. Slow: call on a
/// blocking thread.
pub fn change_password(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), ChangePasswordError> {
    let user = find_active(conn, user_id)?.ok_or(diesel::result::Error::NotFound)?;
    let mut errors = PasswordChangeErrors::default();
    if !password::verify(current, &user.password_hash) {
        errors.current_password = Some("That is not your current password.".to_owned());
    }
    if let Err(problem) = password::check_policy(new) {
        errors.new_password = Some(problem.to_string());
    } else if new == current {
        errors.new_password = Some("Choose a password different from the current one.".to_owned());
    }
    if new != confirm {
        errors.confirm_password = Some("The two new passwords do not match.".to_owned());
    }
    if !errors.is_empty() {
        return Err(ChangePasswordError::Invalid(errors));
    }
    let hash = password::hash(new)?;
    conn.transaction(|conn| {
        let now = Utc::now();
        diesel::update(users::table.find(user_id))
            .set((
                users::password_hash.eq(&hash),
                users::password_changed_at.eq(now),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("user.password_changed", "user", user_id),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_lowercased() {
        assert_eq!(normalize_username("  Alice "), "alice");
    }

    #[test]
    fn username_rules() {
        assert_eq!(username_problem("alice.b-c_9"), None);
        assert!(username_problem("").is_some());
        assert!(username_problem("-alice").is_some());
        assert!(username_problem("al ice").is_some());
        assert!(username_problem("<script>").is_some());
        assert!(username_problem(&"a".repeat(65)).is_some());
    }
}

/// Every user, by username.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::username.asc())
        .select(User::as_select())
        .load(conn)
}

#[derive(Debug, thiserror::Error)]
pub enum AdminChangeError {
    /// Refused by a rule; the text says which.
    #[error("{0}")]
    Refused(String),
    #[error("the password is not valid")]
    Password(password::PasswordPolicyError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Hash(#[from] anyhow::Error),
}

/// The last-admin trigger's refusal becomes a sentence; other errors pass.
fn last_admin(err: diesel::result::Error) -> AdminChangeError {
    match crate::db::violated_check(&err) {
        Some("users_keep_an_admin") => AdminChangeError::Refused(
            "This is the last active administrator: make someone else an administrator first."
                .to_owned(),
        ),
        Some("users_service_not_admin") => AdminChangeError::Refused(
            "A service account cannot be an administrator: give it grants instead.".to_owned(),
        ),
        _ => err.into(),
    }
}

/// Disables or enables a user as an admin action, refusing to leave no
/// active administrator (held by a trigger).
pub fn admin_set_disabled(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
    disabled: bool,
) -> Result<(), AdminChangeError> {
    set_disabled(conn, actor, user_id, disabled).map_err(last_admin)
}

/// Grants or revokes the admin flag.
pub fn set_admin(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
    is_admin: bool,
) -> Result<(), AdminChangeError> {
    conn.transaction(|conn| {
        let username: String = diesel::update(users::table.find(user_id))
            .set((
                users::is_admin.eq(is_admin),
                users::updated_at.eq(Utc::now()),
            ))
            .returning(users::username)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new(
                if is_admin {
                    "user.admin_granted"
                } else {
                    "user.admin_revoked"
                },
                "user",
                user_id,
            )
            .details(json!({ "username": username })),
        )?;
        Ok(())
    })
    .map_err(last_admin)
}

/// Sets a new password chosen by an admin; ends the user's sessions
/// (trigger). Slow: call on a blocking thread.
pub fn reset_password(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: UserId,
    new_password: &str,
) -> Result<(), AdminChangeError> {
    password::check_policy(new_password).map_err(AdminChangeError::Password)?;
    let hash = password::hash(new_password)?;
    conn.transaction(|conn| {
        let now = Utc::now();
        let username: String = diesel::update(users::table.find(user_id))
            .set((
                users::password_hash.eq(&hash),
                users::password_changed_at.eq(now),
                users::updated_at.eq(now),
            ))
            .returning(users::username)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("user.password_reset", "user", user_id)
                .details(json!({ "username": username })),
        )
    })?;
    Ok(())
}

/// Ends every session of a user ("sign out everywhere").
pub fn end_sessions(conn: &mut PgConnection, actor: &Actor, user_id: UserId) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let ended = super::sessions::end_all_for_user(conn, user_id)?;
        audit::record(
            conn,
            actor,
            Event::new("user.sessions_ended", "user", user_id)
                .details(json!({ "sessions": ended })),
        )?;
        Ok(ended)
    })
}
