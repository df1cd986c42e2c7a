//! First start: with no users at all, create `admin`. There is no default
//! password: it comes from `STAGECOACH_ADMIN_PASSWORD` or is generated.

use diesel::prelude::*;

use super::audit::Actor;
use super::users;

/// What `ensure_admin` did.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// Users already exist; nothing was done.
    Existing,
    /// `admin` was created with the configured password.
    Created,
    /// `admin` was created with this generated password, to print once.
    CreatedWithPassword(String),
}

pub fn ensure_admin(
    conn: &mut PgConnection,
    configured: Option<&str>,
) -> anyhow::Result<AdminBootstrap> {
    conn.transaction(|conn| {
        // Two processes starting at once must not both create admins.
        diesel::sql_query("SELECT pg_advisory_xact_lock(7431002)").execute(conn)?;
        if users::count(conn)? > 0 {
            return Ok(AdminBootstrap::Existing);
        }
        let generated = configured
            .is_none()
            .then(|| crate::crypto::random::token_hex(12));
        let password = configured.or(generated.as_deref()).unwrap_or_default();
        users::create(
            conn,
            &Actor::system(),
            "admin",
            "Administrator",
            password,
            true,
        )
        .map_err(|err| match err {
            users::CreateUserError::Password(problem) => {
                anyhow::anyhow!("STAGECOACH_ADMIN_PASSWORD is not acceptable: {problem}")
            }
            other => anyhow::Error::new(other),
        })?;
        Ok(match generated {
            Some(password) => AdminBootstrap::CreatedWithPassword(password),
            None => AdminBootstrap::Created,
        })
    })
}
