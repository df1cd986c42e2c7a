//! Teams of users. A team's grants are its members' rights.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::validation::{self, FieldErrors};
use crate::db::schema::{team_members, teams, users};
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A team with how many members it has, for lists.
#[derive(Debug, Clone)]
pub struct TeamSummary {
    pub team: Team,
    pub members: i64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub disabled: bool,
}

/// How this area says no (see `rejection`).
pub type TeamError = crate::domain::rejection::Rejection;

fn name_errors(name: &str) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(problem) = validation::name_problem(name.trim(), 1, 100, "a name") {
        errors.add("name", problem);
    }
    errors
}

fn taken(err: diesel::result::Error) -> TeamError {
    match err {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => {
            let mut errors = FieldErrors::new();
            errors.add("name", "Another team already has this name.");
            TeamError::Invalid(errors)
        }
        other => other.into(),
    }
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<TeamSummary>> {
    let rows: Vec<(Team, i64)> = teams::table
        .left_join(team_members::table)
        .group_by(teams::id)
        .order(teams::name.asc())
        .select((
            Team::as_select(),
            diesel::dsl::count(team_members::user_id.nullable()),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(team, members)| TeamSummary { team, members })
        .collect())
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Team>> {
    teams::table
        .find(id)
        .select(Team::as_select())
        .first(conn)
        .optional()
}

pub fn members(conn: &mut PgConnection, team_id: i64) -> QueryResult<Vec<Member>> {
    let rows: Vec<(UserId, String, String, bool)> = team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .order(users::username.asc())
        .select((
            users::id,
            users::username,
            users::display_name,
            users::disabled,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, username, display_name, disabled)| Member {
            user_id,
            username,
            display_name,
            disabled,
        })
        .collect())
}

/// The teams a user belongs to.
pub fn of_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Vec<Team>> {
    team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq(user_id))
        .order(teams::name.asc())
        .select(Team::as_select())
        .load(conn)
}

pub fn create(conn: &mut PgConnection, actor: &Actor, name: &str) -> Result<Team, TeamError> {
    name_errors(name)
        .into_result()
        .map_err(TeamError::Invalid)?;
    conn.transaction(|conn| {
        let team = diesel::insert_into(teams::table)
            .values(teams::name.eq(name.trim()))
            .returning(Team::as_returning())
            .get_result(conn)
            .map_err(taken)?;
        audit::record(
            conn,
            actor,
            Event::new("team.created", "team", team.id).details(json!({ "name": team.name })),
        )?;
        Ok(team)
    })
}

pub fn rename(
    conn: &mut PgConnection,
    actor: &Actor,
    team: &Team,
    name: &str,
) -> Result<Team, TeamError> {
    name_errors(name)
        .into_result()
        .map_err(TeamError::Invalid)?;
    conn.transaction(|conn| {
        let renamed = diesel::update(teams::table.find(team.id))
            .set(teams::name.eq(name.trim()))
            .returning(Team::as_returning())
            .get_result(conn)
            .map_err(taken)?;
        audit::record(
            conn,
            actor,
            Event::new("team.renamed", "team", team.id)
                .details(json!({ "from": team.name, "to": renamed.name })),
        )?;
        Ok(renamed)
    })
}

/// Deletes a team; its memberships and grants go with it.
pub fn delete(conn: &mut PgConnection, actor: &Actor, team: &Team) -> Result<(), TeamError> {
    conn.transaction(|conn| {
        diesel::delete(teams::table.find(team.id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("team.deleted", "team", team.id).details(json!({ "name": team.name })),
        )?;
        Ok(())
    })
}

pub fn add_member(
    conn: &mut PgConnection,
    actor: &Actor,
    team: &Team,
    username: &str,
) -> Result<(), TeamError> {
    conn.transaction(|conn| {
        let user = super::users::find_by_username(conn, username)?.ok_or_else(|| {
            let mut errors = FieldErrors::new();
            errors.add("username", "There is no user with this username.");
            TeamError::Invalid(errors)
        })?;
        let added = diesel::insert_into(team_members::table)
            .values((
                team_members::team_id.eq(team.id),
                team_members::user_id.eq(user.id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if added == 0 {
            return Err(TeamError::Refused(format!(
                "{} is already in {}.",
                user.username, team.name
            )));
        }
        audit::record(
            conn,
            actor,
            Event::new("team.member_added", "team", team.id)
                .details(json!({ "team": team.name, "user": user.username })),
        )?;
        Ok(())
    })
}

pub fn remove_member(
    conn: &mut PgConnection,
    actor: &Actor,
    team: &Team,
    user_id: UserId,
) -> Result<(), TeamError> {
    conn.transaction(|conn| {
        let removed = diesel::delete(
            team_members::table
                .filter(team_members::team_id.eq(team.id))
                .filter(team_members::user_id.eq(user_id)),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(TeamError::Refused(
                "That user is not in this team.".to_owned(),
            ));
        }
        audit::record(
            conn,
            actor,
            Event::new("team.member_removed", "team", team.id)
                .details(json!({ "team": team.name, "user_id": user_id })),
        )?;
        Ok(())
    })
}
