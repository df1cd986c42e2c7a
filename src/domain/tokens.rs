//! API tokens: what a CI job holds instead of a password. A token belongs to
//! a user (or a service account), lives until its expiry (capped by the
//! site's maximum lifetime, which the database holds) unless revoked first,
//! and may be narrowed to one project and some roles. It never holds more
//! than its owner: every request works from the owner's grants of that
//! moment, narrowed by the token's scope ([`Scope`]).
//!
//! The secret (`stgc_` and 64 hex digits: 256 random bits, a prefix secret
//! scanners can look for) is shown once; the table keeps its SHA-256.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor, Event};
use super::rejection::Rejection;
use super::states::Role;
use super::validation::FieldErrors;
use crate::db::schema::{api_tokens, projects, site_settings, users};
use crate::domain::ids::{ProjectId, UserId};

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "stgc_";

/// A token's lifetime when none is asked for.
pub const DEFAULT_LIFETIME_DAYS: i64 = 90;

/// How often the last use of a token from the same address is written: a
/// CI job polling every second must not write every second.
pub const LAST_USED_SLACK: Duration = Duration::minutes(1);

pub type TokenError = Rejection;

/// How far a token reaches: its project (all the owner's when `None`) and
/// its roles (all the owner's when `None`). A narrowed token never acts as
/// an administrator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub project_id: Option<ProjectId>,
    pub roles: Option<Vec<Role>>,
}

impl Scope {
    pub fn is_narrowed(&self) -> bool {
        self.project_id.is_some() || self.roles.is_some()
    }

    /// Whether the scope lets a role be used in `project_id`.
    pub fn allows(&self, project_id: ProjectId, role: Role) -> bool {
        self.project_id.is_none_or(|p| p == project_id)
            && self
                .roles
                .as_ref()
                .is_none_or(|roles| roles.contains(&role))
    }
}

/// A token as lists show it (never its secret).
#[derive(Debug, Clone, Queryable)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: UserId,
    pub owner: String,
    pub name: String,
    pub prefix: String,
    pub project: Option<String>,
    pub roles: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// "active", "expired" or "revoked".
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "active"
        }
    }

    /// The scope in words, for lists.
    pub fn scope_words(&self) -> String {
        let project = self
            .project
            .as_deref()
            .map_or_else(|| "every project".to_owned(), |p| format!("project {p}"));
        match &self.roles {
            None => format!("{project}, all the owner's roles"),
            Some(roles) => format!("{project}, {} only", roles.join(" + ")),
        }
    }
}

/// What a person asks for when creating a token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    /// Days until it expires; empty for the default.
    pub lifetime_days: String,
    /// A project's slug; empty for every project.
    pub project: String,
    /// The roles it may use; empty for all the owner's.
    pub roles: Vec<String>,
}

/// A token just made, with the secret to show once.
#[derive(Debug)]
pub struct Issued {
    pub id: i64,
    pub name: String,
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The most days a token may live (an admin's setting).
pub fn max_lifetime_days(conn: &mut PgConnection) -> QueryResult<i64> {
    site_settings::table
        .select(site_settings::token_max_lifetime_days)
        .first::<i32>(conn)
        .optional()
        .map(|days| i64::from(days.unwrap_or(365)))
}

/// Sets the most days a token may live. Tokens already issued keep theirs.
pub fn set_max_lifetime_days(
    conn: &mut PgConnection,
    actor: &Actor,
    raw: &str,
) -> Result<i64, TokenError> {
    let days = match raw.trim().parse::<i32>() {
        Ok(days) if (1..=3650).contains(&days) => days,
        _ => {
            let mut errors = FieldErrors::new();
            errors.add("max_days", "Enter a whole number of days from 1 to 3650.");
            return Err(Rejection::Invalid(errors));
        }
    };
    conn.transaction(|conn| {
        diesel::update(site_settings::table)
            .set(site_settings::token_max_lifetime_days.eq(days))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("token.max_lifetime_set", "site", "tokens").details(json!({ "days": days })),
        )?;
        Ok(i64::from(days))
    })
}

/// A request for a token, checked: its lifetime in days, its project (id
/// and slug) and its roles.
type Judged = (i64, Option<(ProjectId, String)>, Option<Vec<Role>>);

/// Checks a request for a token, field by field.
fn judge(conn: &mut PgConnection, input: &NewToken, max_days: i64) -> Result<Judged, TokenError> {
    let mut errors = FieldErrors::new();
    if let Some(problem) = super::validation::name_problem(input.name.trim(), 1, 100, "name") {
        errors.add("name", problem);
    }
    let days = match input.lifetime_days.trim() {
        "" => DEFAULT_LIFETIME_DAYS.min(max_days),
        raw => match raw.parse::<i64>() {
            Ok(days) if days >= 1 && days <= max_days => days,
            Ok(days) if days > max_days => {
                errors.add(
                    "lifetime_days",
                    format!("A token may live at most {max_days} days here."),
                );
                0
            }
            _ => {
                errors.add(
                    "lifetime_days",
                    format!("Enter a whole number of days from 1 to {max_days}."),
                );
                0
            }
        },
    };
    let project = match input.project.trim() {
        "" => None,
        slug => {
            let found: Option<(ProjectId, String)> = projects::table
                .filter(projects::slug.eq(slug))
                .select((projects::id, projects::slug))
                .first(conn)
                .optional()?;
            if found.is_none() {
                errors.add("project", "There is no such project.");
            }
            found
        }
    };
    let mut roles = Vec::new();
    for raw in &input.roles {
        match Role::parse(raw.trim()) {
            Some(role) if !roles.contains(&role) => roles.push(role),
            Some(_) => {}
            None => errors.add("roles", "Choose roles from viewer, deployer and approver."),
        }
    }
    errors.into_result().map_err(Rejection::Invalid)?;
    Ok((days, project, (!roles.is_empty()).then_some(roles)))
}

/// Makes a token for `owner` (the actor themself, or a service account or
/// anyone when the actor is an admin). Audited.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    owner: UserId,
    input: &NewToken,
) -> Result<Issued, TokenError> {
    if actor.user_id != Some(owner) && !actor.is_admin {
        return Err(Rejection::Denied(
            "Only administrators may make tokens for someone else.".to_owned(),
        ));
    }
    conn.transaction(|conn| {
        let owner_name: String = users::table
            .find(owner)
            .filter(users::disabled.eq(false))
            .select(users::username)
            .first(conn)
            .optional()?
            .ok_or(Rejection::NotFound)?;
        let max_days = max_lifetime_days(conn)?;
        let (days, project, roles) = judge(conn, input, max_days)?;
        let secret = format!("{SECRET_PREFIX}{}", crate::crypto::random::token_hex(32));
        let prefix = secret[..SECRET_PREFIX.len() + 8].to_owned();
        let now = Utc::now();
        let expires_at = now + Duration::days(days);
        let role_names: Option<Vec<String>> = roles
            .as_ref()
            .map(|roles| roles.iter().map(|r| r.as_str().to_owned()).collect());
        let name = input.name.trim().to_owned();
        let id: i64 = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::user_id.eq(owner),
                api_tokens::name.eq(&name),
                api_tokens::prefix.eq(&prefix),
                api_tokens::secret_hash.eq(hash(&secret)),
                api_tokens::project_id.eq(project.as_ref().map(|p| p.0)),
                api_tokens::roles.eq(&role_names),
                api_tokens::created_by.eq(actor.user_id),
                api_tokens::created_at.eq(now),
                api_tokens::expires_at.eq(expires_at),
            ))
            .returning(api_tokens::id)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("token.created", "token", id).details(json!({
                "name": name,
                "owner": owner_name,
                "prefix": prefix,
                "project": project.as_ref().map(|p| &p.1),
                "roles": role_names,
                "expires_at": expires_at.to_rfc3339(),
            })),
        )?;
        Ok(Issued {
            id,
            name,
            secret,
            expires_at,
        })
    })
}

/// The columns of a [`TokenRow`], with its owner's name and its
/// project's slug.
macro_rules! token_row {
    () => {
        (
            api_tokens::id,
            api_tokens::user_id,
            users::username,
            api_tokens::name,
            api_tokens::prefix,
            projects::slug.nullable(),
            api_tokens::roles,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            api_tokens::last_used_from,
            api_tokens::revoked_at,
        )
    };
}

/// The most tokens a list shows; the rest are older.
pub const LIST_LIMIT: i64 = 200;

/// A user's tokens, newest first.
pub fn of_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .inner_join(users::table.on(users::id.eq(api_tokens::user_id)))
        .left_join(projects::table.on(projects::id.nullable().eq(api_tokens::project_id)))
        .filter(api_tokens::user_id.eq(user_id))
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(LIST_LIMIT)
        .select(token_row!())
        .load(conn)
}

/// Everyone's tokens that are still active, newest first (the admin's list).
pub fn active(conn: &mut PgConnection) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .inner_join(users::table.on(users::id.eq(api_tokens::user_id)))
        .left_join(projects::table.on(projects::id.nullable().eq(api_tokens::project_id)))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(Utc::now()))
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(LIST_LIMIT)
        .select(token_row!())
        .load(conn)
}

/// Revokes a token at once: its owner, or an admin. Audited; revoking one
/// already revoked changes nothing.
pub fn revoke(conn: &mut PgConnection, actor: &Actor, token_id: i64) -> Result<String, TokenError> {
    conn.transaction(|conn| {
        let (owner, name, revoked): (UserId, String, Option<DateTime<Utc>>) = api_tokens::table
            .find(token_id)
            .select((
                api_tokens::user_id,
                api_tokens::name,
                api_tokens::revoked_at,
            ))
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(Rejection::NotFound)?;
        if actor.user_id != Some(owner) && !actor.is_admin {
            // Someone else's token does not exist, as far as they know.
            return Err(Rejection::NotFound);
        }
        if revoked.is_some() {
            return Ok(name);
        }
        diesel::update(api_tokens::table.find(token_id))
            .set((
                api_tokens::revoked_at.eq(Utc::now()),
                api_tokens::revoked_by.eq(actor.user_id),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("token.revoked", "token", token_id).details(json!({ "name": name })),
        )?;
        Ok(name)
    })
}

/// Why a token was not accepted. The API answers 401 to each alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token this server issued (or not a token at all).
    Unknown,
    Expired,
    Revoked,
    /// Its owner is disabled.
    OwnerDisabled,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "unknown token",
            Self::Expired => "token expired",
            Self::Revoked => "token revoked",
            Self::OwnerDisabled => "the token's owner is disabled",
        }
    }
}

#[derive(Queryable)]
struct Found {
    id: i64,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_from: Option<String>,
    project_id: Option<ProjectId>,
    roles: Option<Vec<String>>,
    user_id: UserId,
    username: String,
    is_admin: bool,
    disabled: bool,
}

/// The actor a request's token stands for, with the token's scope.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub token_id: i64,
    pub actor: Actor,
    pub scope: Scope,
}

/// Finds the token `secret` names and, when it may be used, the actor it
/// stands for. Records its use (from a new address: audited; otherwise at
/// most once a [`LAST_USED_SLACK`]); a refused known token is audited.
pub fn authenticate(
    conn: &mut PgConnection,
    secret: &str,
    client_addr: Option<&str>,
) -> QueryResult<Result<Authenticated, Refusal>> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 200 {
        return Ok(Err(Refusal::Unknown));
    }
    let found: Option<Found> = api_tokens::table
        .inner_join(users::table.on(users::id.eq(api_tokens::user_id)))
        .filter(api_tokens::secret_hash.eq(hash(secret)))
        .select((
            api_tokens::id,
            api_tokens::expires_at,
            api_tokens::revoked_at,
            api_tokens::last_used_at,
            api_tokens::last_used_from,
            api_tokens::project_id,
            api_tokens::roles,
            users::id,
            users::username,
            users::is_admin,
            users::disabled,
        ))
        .first(conn)
        .optional()?;
    let Some(found) = found else {
        return Ok(Err(Refusal::Unknown));
    };
    let now = Utc::now();
    let refusal = if found.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else if found.expires_at <= now {
        Some(Refusal::Expired)
    } else if found.disabled {
        Some(Refusal::OwnerDisabled)
    } else {
        None
    };
    let actor = Actor::user(
        found.user_id,
        found.username.clone(),
        false,
        client_addr.map(str::to_owned),
    );
    if let Some(refusal) = refusal {
        audit::record(
            conn,
            &actor,
            Event::new("token.refused", "token", found.id)
                .details(json!({ "reason": refusal.reason() })),
        )?;
        return Ok(Err(refusal));
    }
    let scope = Scope {
        project_id: found.project_id,
        roles: found
            .roles
            .map(|names| names.iter().filter_map(|name| Role::parse(name)).collect()),
    };
    let new_address = client_addr.is_some() && found.last_used_from.as_deref() != client_addr;
    let stale = found
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_SLACK);
    if new_address || stale {
        let noted = conn.transaction(|conn| {
            diesel::update(api_tokens::table.find(found.id))
                .set((
                    api_tokens::last_used_at.eq(now),
                    api_tokens::last_used_from.eq(client_addr),
                ))
                .execute(conn)?;
            if new_address {
                audit::record(
                    conn,
                    &actor,
                    Event::new("token.used_from_new_address", "token", found.id)
                        .details(json!({ "address": client_addr })),
                )?;
            }
            QueryResult::Ok(())
        });
        match noted {
            // A read-only database still serves reads: the token is noted
            // on a later use.
            Err(err) if crate::db::is_read_only(&err) => {
                tracing::warn!(token = found.id, "database read-only: token use not noted");
            }
            other => other?,
        }
    }
    let actor = Actor {
        // Only a token with all of its owner's reach acts as an admin.
        is_admin: found.is_admin && !scope.is_narrowed(),
        scope: scope.is_narrowed().then(|| scope.clone()),
        token_id: Some(found.id),
        ..actor
    };
    Ok(Ok(Authenticated {
        token_id: found.id,
        actor,
        scope,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_allows_only_its_project_and_roles() {
        let everything = Scope::default();
        assert!(!everything.is_narrowed());
        assert!(everything.allows(ProjectId(1), Role::Approver));
        let deploy_in_one = Scope {
            project_id: Some(ProjectId(1)),
            roles: Some(vec![Role::Deployer]),
        };
        assert!(deploy_in_one.is_narrowed());
        assert!(deploy_in_one.allows(ProjectId(1), Role::Deployer));
        assert!(!deploy_in_one.allows(ProjectId(1), Role::Approver));
        assert!(!deploy_in_one.allows(ProjectId(2), Role::Deployer));
    }

    #[test]
    fn secrets_are_hashed_to_32_bytes() {
        assert_eq!(hash("stgc_x").len(), 32);
        assert_ne!(hash("stgc_x"), hash("stgc_y"));
    }
}
