//! An environment's steps, edited by admins: scripts run by the worker and
//! webhooks it calls. Releases run the steps of their snapshot, so edits
//! here change only releases created afterwards.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::environments::Environment;
use super::ordering::{self, Direction, OrderedList};
pub use super::states::StepKind;
use super::validation::{self, FieldErrors};
use crate::db::schema::steps;
use crate::domain::ids::EnvironmentId;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq)]
#[diesel(table_name = steps)]
pub struct Step {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub position: i32,
    pub kind: StepKind,
    pub name: String,
    pub script: String,
    pub url: Option<String>,
    pub timeout_seconds: i32,
    pub retries: i32,
}

pub const DEFAULT_TIMEOUT_SECONDS: i32 = 600;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_SCRIPT_CHARS: usize = 100_000;

pub fn list(conn: &mut PgConnection, environment_id: EnvironmentId) -> QueryResult<Vec<Step>> {
    steps::table
        .filter(steps::environment_id.eq(environment_id))
        .order(steps::position.asc())
        .select(Step::as_select())
        .load(conn)
}

/// Every step of several environments, by environment and position.
pub fn for_environments(conn: &mut PgConnection, ids: &[EnvironmentId]) -> QueryResult<Vec<Step>> {
    steps::table
        .filter(steps::environment_id.eq_any(ids.to_vec()))
        .order((steps::environment_id, steps::position))
        .select(Step::as_select())
        .load(conn)
}

/// The step form as typed.
#[derive(Debug, Clone, Default)]
pub struct StepInput {
    pub kind: String,
    pub name: String,
    pub script: String,
    pub url: String,
    pub timeout_seconds: String,
}

/// How this area says no (see `rejection`).
pub type StepError = crate::domain::rejection::Rejection;

/// Checks the form; on success gives (kind, name, script, url, timeout).
pub(crate) fn validate(
    input: &StepInput,
) -> Result<(StepKind, String, String, Option<String>, i32), FieldErrors> {
    let mut errors = FieldErrors::new();
    let kind = StepKind::parse(&input.kind).unwrap_or_else(|| {
        errors.add("kind", "Choose a script, a webhook or a manual step.");
        StepKind::Script
    });
    if let Some(problem) = validation::name_problem(input.name.trim(), 1, MAX_NAME_CHARS, "a name")
    {
        errors.add("name", problem);
    }
    let script = input.script.replace("\r\n", "\n");
    let url = input.url.trim().to_owned();
    if kind == StepKind::Manual {
        if script.trim().is_empty() {
            errors.add("script", "Write what the person should check or do.");
        } else if let Some(problem) = validation::text_problem(&script, MAX_SCRIPT_CHARS) {
            errors.add("script", problem);
        }
    } else if kind == StepKind::Script {
        if script.trim().is_empty() {
            errors.add("script", "Enter the script to run.");
        } else if let Some(problem) = validation::text_problem(&script, MAX_SCRIPT_CHARS) {
            errors.add("script", problem);
        }
    } else if url.is_empty() {
        errors.add("url", "Enter the URL to call.");
    } else if let Some(problem) = validation::url_problem(&url) {
        errors.add("url", problem);
    }
    let timeout = match input.timeout_seconds.trim() {
        "" => DEFAULT_TIMEOUT_SECONDS,
        t => match t.parse::<i32>() {
            Ok(n) if (1..=86_400).contains(&n) => n,
            _ => {
                errors.add(
                    "timeout_seconds",
                    "Use a whole number of seconds from 1 to 86,400.",
                );
                DEFAULT_TIMEOUT_SECONDS
            }
        },
    };
    errors.into_result()?;
    let (script, url) = if kind == StepKind::Http {
        (String::new(), Some(url))
    } else {
        (script, None)
    };
    Ok((kind, input.name.trim().to_owned(), script, url, timeout))
}

pub fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    input: &StepInput,
) -> Result<Step, StepError> {
    let (kind, name, script, url, timeout) = validate(input).map_err(StepError::Invalid)?;
    conn.transaction(|conn| {
        let position: i32 = steps::table
            .filter(steps::environment_id.eq(environment.id))
            .select(diesel::dsl::max(steps::position))
            .first::<Option<i32>>(conn)?
            .map_or(0, |p| p + 1);
        let step = diesel::insert_into(steps::table)
            .values((
                steps::environment_id.eq(environment.id),
                steps::position.eq(position),
                steps::kind.eq(kind),
                steps::name.eq(&name),
                steps::script.eq(&script),
                steps::url.eq(&url),
                steps::timeout_seconds.eq(timeout),
            ))
            .returning(Step::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("step.added", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "step": name, "kind": kind })),
        )?;
        Ok(step)
    })
}

pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    step: &Step,
    input: &StepInput,
) -> Result<Step, StepError> {
    let (kind, name, script, url, timeout) = validate(input).map_err(StepError::Invalid)?;
    conn.transaction(|conn| {
        let updated = diesel::update(steps::table.find(step.id))
            .set((
                steps::kind.eq(kind),
                steps::name.eq(&name),
                steps::script.eq(&script),
                steps::url.eq(&url),
                steps::timeout_seconds.eq(timeout),
            ))
            .returning(Step::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("step.updated", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "step": name })),
        )?;
        Ok(updated)
    })
}

/// Moves a step one place earlier or later.
pub fn shift(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    step: &Step,
    direction: Direction,
) -> Result<(), StepError> {
    conn.transaction(|conn| {
        let all: Vec<Step> = steps::table
            .filter(steps::environment_id.eq(environment.id))
            .order(steps::position.asc())
            .select(Step::as_select())
            .for_update()
            .load(conn)?;
        let (this, other) = super::ordering::neighbours(&all, |s| s.id == step.id, direction)
            .ok_or(diesel::result::Error::NotFound)?;
        let Some(other) = other else {
            return Err(StepError::Refused("It is already at that end.".to_owned()));
        };
        ordering::swap(
            conn,
            OrderedList::Steps(environment.id),
            (this.id, this.position),
            (other.id, other.position),
        )?;
        audit::record(
            conn,
            actor,
            Event::new("step.reordered", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "step": step.name })),
        )?;
        Ok(())
    })
}

pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    step: &Step,
) -> Result<(), StepError> {
    conn.transaction(|conn| {
        diesel::delete(steps::table.find(step.id)).execute(conn)?;
        ordering::close_gap(conn, OrderedList::Steps(environment.id), step.position)?;
        audit::record(
            conn,
            actor,
            Event::new("step.removed", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "step": step.name })),
        )?;
        Ok(())
    })
}
