//! Environments (stages) of a project's pipeline: listing and the admin's
//! edits — add, rename, set URL and trigger, reorder, remove.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::validation::{self, FieldErrors};
use crate::db::schema::{environment_releases, environments};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = environments)]
pub struct Environment {
    pub id: i64,
    pub project_id: i64,
    pub slug: String,
    pub name: String,
    pub position: i32,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub trigger: String,
    /// How many deployments may run here at once.
    pub max_running: i32,
    /// `all` (in order) or `latest` (older waiting ones are cancelled).
    pub queue_policy: String,
}

impl Environment {
    pub fn trigger_text(&self) -> &'static str {
        match self.trigger.as_str() {
            "on_release" => "on release creation",
            _ => "manual",
        }
    }
}

/// The pipeline in order.
pub fn list(conn: &mut PgConnection, project_id: i64) -> QueryResult<Vec<Environment>> {
    environments::table
        .filter(environments::project_id.eq(project_id))
        .order(environments::position.asc())
        .select(Environment::as_select())
        .load(conn)
}

pub fn find_by_slug(
    conn: &mut PgConnection,
    project_id: i64,
    slug: &str,
) -> QueryResult<Option<Environment>> {
    environments::table
        .filter(environments::project_id.eq(project_id))
        .filter(environments::slug.eq(slug))
        .select(Environment::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, Default)]
pub struct EnvironmentInput {
    pub name: String,
    pub url: String,
    /// `manual` or `on_release` (the first environment only).
    pub trigger: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("the environment is not valid")]
    Invalid(FieldErrors),
    /// The change is refused; the text says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

fn invalid(field: &str, message: &str) -> EnvironmentError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    EnvironmentError::Invalid(errors)
}

fn validate(input: &EnvironmentInput, is_first: bool) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(problem) = validation::length_problem(input.name.trim(), 1, 100, "a name") {
        errors.add("name", problem);
    }
    if let Some(problem) = validation::url_problem(input.url.trim()) {
        errors.add("url", problem);
    }
    match input.trigger.as_str() {
        "manual" | "" => {}
        "on_release" if is_first => {}
        "on_release" => errors.add(
            "trigger",
            "Only the first environment deploys on release creation.",
        ),
        _ => errors.add("trigger", "Choose a trigger."),
    }
    errors
}

fn unique_slug(existing: &[Environment], name: &str) -> String {
    let base = match validation::slugify(name) {
        s if s.is_empty() => "environment".to_owned(),
        s => s,
    };
    let mut slug = base.clone();
    let mut n = 2;
    while existing.iter().any(|e| e.slug == slug) {
        slug = format!("{base}-{n}");
        n += 1;
    }
    slug
}

/// Adds an environment at the end of the pipeline.
pub fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: i64,
    input: &EnvironmentInput,
) -> Result<Environment, EnvironmentError> {
    conn.transaction(|conn| {
        let existing = list(conn, project_id)?;
        validate(input, existing.is_empty())
            .into_result()
            .map_err(EnvironmentError::Invalid)?;
        if existing
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case(input.name.trim()))
        {
            return Err(invalid(
                "name",
                "This pipeline already has an environment of that name.",
            ));
        }
        let position = existing.iter().map(|e| e.position + 1).max().unwrap_or(0);
        let url = Some(input.url.trim()).filter(|u| !u.is_empty());
        let trigger = if input.trigger.is_empty() {
            "manual"
        } else {
            input.trigger.as_str()
        };
        let environment = diesel::insert_into(environments::table)
            .values((
                environments::project_id.eq(project_id),
                environments::slug.eq(unique_slug(&existing, &input.name)),
                environments::name.eq(input.name.trim()),
                environments::position.eq(position),
                environments::url.eq(url),
                environments::trigger.eq(trigger),
            ))
            .returning(Environment::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("environment.added", "environment", environment.id)
                .in_project(project_id)
                .details(json!({ "name": environment.name, "position": position })),
        )?;
        Ok(environment)
    })
}

/// Renames an environment and sets its URL and trigger. The slug stays, so
/// links keep working.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    input: &EnvironmentInput,
) -> Result<Environment, EnvironmentError> {
    conn.transaction(|conn| {
        let existing = list(conn, environment.project_id)?;
        let is_first = existing.first().is_some_and(|e| e.id == environment.id);
        validate(input, is_first)
            .into_result()
            .map_err(EnvironmentError::Invalid)?;
        if existing
            .iter()
            .any(|e| e.id != environment.id && e.name.eq_ignore_ascii_case(input.name.trim()))
        {
            return Err(invalid(
                "name",
                "This pipeline already has an environment of that name.",
            ));
        }
        let url = Some(input.url.trim()).filter(|u| !u.is_empty());
        let trigger = if input.trigger.is_empty() {
            "manual"
        } else {
            input.trigger.as_str()
        };
        let updated = diesel::update(environments::table.find(environment.id))
            .set((
                environments::name.eq(input.name.trim()),
                environments::url.eq(url),
                environments::trigger.eq(trigger),
            ))
            .returning(Environment::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("environment.updated", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({
                    "name": { "from": environment.name, "to": updated.name },
                    "url": { "from": environment.url, "to": updated.url },
                    "trigger": { "from": environment.trigger, "to": updated.trigger },
                })),
        )?;
        Ok(updated)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Earlier,
    Later,
}

/// Swaps an environment with its neighbour. The position constraint is
/// deferred for the swap, and the pipeline rows are locked so two admins
/// reordering at once take turns.
pub fn reorder(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    direction: Direction,
) -> Result<(), EnvironmentError> {
    conn.transaction(|conn| {
        let pipeline: Vec<Environment> = environments::table
            .filter(environments::project_id.eq(environment.project_id))
            .order(environments::position.asc())
            .select(Environment::as_select())
            .for_update()
            .load(conn)?;
        let index = pipeline
            .iter()
            .position(|e| e.id == environment.id)
            .ok_or(diesel::result::Error::NotFound)?;
        let other = match direction {
            Direction::Earlier if index > 0 => &pipeline[index - 1],
            Direction::Later if index + 1 < pipeline.len() => &pipeline[index + 1],
            _ => {
                return Err(EnvironmentError::Refused(
                    "It is already at that end of the pipeline.".to_owned(),
                ));
            }
        };
        let this = &pipeline[index];
        diesel::sql_query("SET CONSTRAINTS environments_position_key DEFERRED").execute(conn)?;
        diesel::update(environments::table.find(this.id))
            .set(environments::position.eq(other.position))
            .execute(conn)?;
        diesel::update(environments::table.find(other.id))
            .set(environments::position.eq(this.position))
            .execute(conn)?;
        // "On release creation" belongs to the first environment only.
        diesel::sql_query(
            "UPDATE environments SET trigger = 'manual'
              WHERE project_id = $1 AND trigger = 'on_release'
                AND position > (SELECT min(position) FROM environments WHERE project_id = $1)",
        )
        .bind::<diesel::sql_types::BigInt, _>(environment.project_id)
        .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("environment.reordered", "environment", this.id)
                .in_project(environment.project_id)
                .details(json!({ "name": this.name, "from": this.position, "to": other.position })),
        )?;
        Ok(())
    })
}

/// Removes an environment that no release has reached.
pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
) -> Result<(), EnvironmentError> {
    conn.transaction(|conn| {
        let pipeline: Vec<Environment> = environments::table
            .filter(environments::project_id.eq(environment.project_id))
            .order(environments::position.asc())
            .select(Environment::as_select())
            .for_update()
            .load(conn)?;
        let reached: i64 = environment_releases::table
            .filter(environment_releases::environment_id.eq(environment.id))
            .count()
            .get_result(conn)?;
        if reached > 0 {
            return Err(EnvironmentError::Refused(format!(
                "{} can't be removed: {reached} release{} reached it, and its history is kept.",
                environment.name,
                if reached == 1 { " has" } else { "s have" }
            )));
        }
        if pipeline.len() == 1 {
            return Err(EnvironmentError::Refused(
                "A pipeline needs at least one environment.".to_owned(),
            ));
        }
        diesel::delete(environments::table.find(environment.id)).execute(conn)?;
        // Close the gap so positions stay dense.
        diesel::sql_query("SET CONSTRAINTS environments_position_key DEFERRED").execute(conn)?;
        diesel::update(
            environments::table
                .filter(environments::project_id.eq(environment.project_id))
                .filter(environments::position.gt(environment.position)),
        )
        .set(environments::position.eq(environments::position - 1))
        .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("environment.removed", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "name": environment.name })),
        )?;
        Ok(())
    })
}

/// Sets an environment's queue policy.
pub fn set_policy(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    max_running: &str,
    queue_policy: &str,
) -> Result<Environment, EnvironmentError> {
    let mut errors = FieldErrors::new();
    let max = match max_running.trim().parse::<i32>() {
        Ok(n) if (1..=20).contains(&n) => n,
        _ => {
            errors.add("max_running", "Use a whole number from 1 to 20.");
            1
        }
    };
    if !matches!(queue_policy, "all" | "latest") {
        errors.add("queue_policy", "Choose how waiting deployments run.");
    }
    errors.into_result().map_err(EnvironmentError::Invalid)?;
    conn.transaction(|conn| {
        let updated = diesel::update(environments::table.find(environment.id))
            .set((
                environments::max_running.eq(max),
                environments::queue_policy.eq(queue_policy),
            ))
            .returning(Environment::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("environment.policy_changed", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({
                    "environment": environment.name,
                    "max_running": max,
                    "queue_policy": queue_policy,
                })),
        )?;
        Ok(updated)
    })
}
