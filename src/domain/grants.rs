//! Who holds which role on which environment: the access page's matrix and
//! its changes. Checking rights is `access`; this is managing them.

use diesel::prelude::*;
use serde_json::json;

use super::access::Role;
use super::audit::{self, Actor, Event};
use super::environments::Environment;
use crate::db::schema::{grants, teams, users};
use crate::domain::ids::{EnvironmentId, ProjectId};

/// A user or a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User(i64),
    Team(i64),
}

impl Holder {
    /// `user:12` or `team:3`, as forms send it.
    pub fn parse(value: &str) -> Option<Self> {
        let (kind, id) = value.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "user" => Some(Self::User(id)),
            "team" => Some(Self::Team(id)),
            _ => None,
        }
    }
}

/// One grant as the access page lists it.
#[derive(Debug, Clone)]
pub struct GrantView {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub role: Role,
    /// The user's display name or the team's name.
    pub holder: String,
    pub is_team: bool,
}

/// Every grant on the given environments.
pub fn for_environments(
    conn: &mut PgConnection,
    pipeline: &[Environment],
) -> QueryResult<Vec<GrantView>> {
    let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
    type GrantRow = (i64, EnvironmentId, Role, Option<String>, Option<String>);
    let rows: Vec<GrantRow> = grants::table
        .left_join(users::table)
        .left_join(teams::table)
        .filter(grants::environment_id.eq_any(ids))
        .order((grants::environment_id, grants::role, grants::id))
        .select((
            grants::id,
            grants::environment_id,
            grants::role,
            users::display_name.nullable(),
            teams::name.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, environment_id, role, user, team)| GrantView {
            id,
            environment_id,
            role,
            is_team: team.is_some(),
            holder: team.or(user).unwrap_or_default(),
        })
        .collect())
}

/// How this area says no (see `rejection`).
pub type GrantError = crate::domain::rejection::Rejection;

/// Grants `role` on `environment` to a user or team (idempotent).
pub fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    holder: Holder,
    role: Role,
) -> Result<(), GrantError> {
    conn.transaction(|conn| {
        let (user_id, team_id, holder_name) = match holder {
            Holder::User(id) => {
                let name: Option<String> = users::table
                    .find(id)
                    .select(users::username)
                    .first(conn)
                    .optional()?;
                (
                    Some(id),
                    None,
                    name.ok_or_else(|| GrantError::Refused("There is no such user.".to_owned()))?,
                )
            }
            Holder::Team(id) => {
                let name: Option<String> = teams::table
                    .find(id)
                    .select(teams::name)
                    .first(conn)
                    .optional()?;
                (
                    None,
                    Some(id),
                    name.ok_or_else(|| GrantError::Refused("There is no such team.".to_owned()))?,
                )
            }
        };
        let inserted = diesel::insert_into(grants::table)
            .values((
                grants::user_id.eq(user_id),
                grants::team_id.eq(team_id),
                grants::environment_id.eq(environment.id),
                grants::role.eq(role.as_str()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            return Err(GrantError::Refused(format!(
                "{holder_name} already holds {} on {}.",
                role.as_str(),
                environment.name
            )));
        }
        audit::record(
            conn,
            actor,
            Event::new("grant.added", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({
                    "environment": environment.name,
                    "role": role.as_str(),
                    "holder": holder_name,
                    "team": team_id.is_some(),
                })),
        )?;
        Ok(())
    })
}

/// Removes one grant of the project's environments.
pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    pipeline: &[Environment],
    grant_id: i64,
) -> Result<(), GrantError> {
    conn.transaction(|conn| {
        let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
        let removed: Option<(EnvironmentId, String, Option<i64>, Option<i64>)> = diesel::delete(
            grants::table
                .filter(grants::id.eq(grant_id))
                .filter(grants::environment_id.eq_any(ids)),
        )
        .returning((
            grants::environment_id,
            grants::role,
            grants::user_id,
            grants::team_id,
        ))
        .get_result(conn)
        .optional()?;
        let Some((environment_id, role, user_id, team_id)) = removed else {
            return Err(GrantError::Refused(
                "That grant no longer exists.".to_owned(),
            ));
        };
        let environment = pipeline.iter().find(|e| e.id == environment_id);
        audit::record(
            conn,
            actor,
            Event::new("grant.removed", "environment", environment_id)
                .in_project(environment.map_or(ProjectId(0), |e| e.project_id))
                .details(json!({
                    "environment": environment.map(|e| e.name.clone()),
                    "role": role,
                    "user_id": user_id,
                    "team_id": team_id,
                })),
        )?;
        Ok(())
    })
}
