//! Environments (stages) of a project's pipeline: listing and the admin's
//! edits — add, rename, set URL and trigger, reorder, remove. The policy
//! (limits, approvals, window, schedule) is in `policy.rs`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
pub use super::states::{QueuePolicy, Trigger};
use super::validation::{self, FieldErrors};
use crate::db::schema::{environment_releases, environments, projects};
use crate::domain::ids::{EnvironmentId, ProjectId};

mod policy;

pub use policy::*;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = environments)]
pub struct Environment {
    pub id: EnvironmentId,
    pub project_id: ProjectId,
    pub slug: String,
    pub name: String,
    pub position: i32,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub trigger: Trigger,
    /// How many deployments may run here at once.
    pub max_running: i32,
    pub queue_policy: QueuePolicy,
    /// Distinct approvers a deployment here needs (0: none).
    pub required_approvals: i32,
    pub allow_self_approval: bool,
    /// A deployment not approved within this is rejected.
    pub approval_timeout_hours: i32,
    /// ISO weekdays (1 = Monday) of the deployment window; empty: every
    /// day. (Elements of a PostgreSQL array are nullable; none is null.)
    pub window_days: Vec<Option<i16>>,
    pub window_start: Option<chrono::NaiveTime>,
    pub window_end: Option<chrono::NaiveTime>,
    pub window_time_zone: String,
    /// Scheduled trigger: ISO weekdays (empty: every day), a time and zone.
    pub schedule_days: Vec<Option<i16>>,
    pub schedule_time: Option<chrono::NaiveTime>,
    pub schedule_time_zone: String,
    pub schedule_checked_at: Option<DateTime<Utc>>,
    /// A newer release requested here cancels older ones still waiting for
    /// approval or queued (the `supersede` migration's trigger).
    pub supersede: bool,
    /// A release starts here only this many minutes after it succeeded in
    /// the previous environment (`deployment_may_start`).
    pub soak_minutes: i32,
    /// When a deployment's checks fail, the last release that succeeded
    /// here is deployed again, as a rollback (cause `verification`).
    pub rollback_on_failed_verification: bool,
}

impl Environment {
    pub fn trigger_text(&self) -> &'static str {
        self.trigger.words()
    }

    /// The deployment window in words, or `None` when there is none.
    pub fn window_text(&self) -> Option<String> {
        let (start, end) = (self.window_start?, self.window_end?);
        let days = super::weekdays::days_text(&self.window_days);
        Some(format!(
            "{days}, {}–{} {}",
            start.format("%H:%M"),
            end.format("%H:%M"),
            self.window_time_zone
        ))
    }

    /// The schedule in words, when the trigger is a schedule.
    pub fn schedule_text(&self) -> Option<String> {
        let time = self
            .schedule_time
            .filter(|_| self.trigger == Trigger::Scheduled)?;
        let days = super::weekdays::days_text(&self.schedule_days);
        Some(format!(
            "{days} at {} {}",
            time.format("%H:%M"),
            self.schedule_time_zone
        ))
    }

    /// Whether the window includes ISO weekday `day` (for the form).
    pub fn window_has_day(&self, day: &i16) -> bool {
        self.window_days.contains(&Some(*day))
    }
}

/// The pipeline in order.
pub fn list(conn: &mut PgConnection, project_id: ProjectId) -> QueryResult<Vec<Environment>> {
    environments::table
        .filter(environments::project_id.eq(project_id))
        .order(environments::position.asc())
        .select(Environment::as_select())
        .load(conn)
}

pub fn find_by_slug(
    conn: &mut PgConnection,
    project_id: ProjectId,
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

/// How this area says no (see `rejection`).
pub type EnvironmentError = crate::domain::rejection::Rejection;

/// Where an environment is: its project (id and slug) and its own name.
#[derive(Debug, Clone)]
pub struct Place {
    pub project_id: ProjectId,
    pub project_slug: String,
    pub environment_name: String,
}

pub fn place(conn: &mut PgConnection, environment_id: EnvironmentId) -> QueryResult<Place> {
    let (project_id, project_slug, environment_name) = environments::table
        .inner_join(projects::table)
        .filter(environments::id.eq(environment_id))
        .select((projects::id, projects::slug, environments::name))
        .first(conn)?;
    Ok(Place {
        project_id,
        project_slug,
        environment_name,
    })
}

fn invalid(field: &str, message: &str) -> EnvironmentError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    EnvironmentError::Invalid(errors)
}

/// Checks the form; on success gives the trigger it asks for (blank:
/// manual).
fn validate(input: &EnvironmentInput, is_first: bool) -> Result<Trigger, FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(problem) = validation::name_problem(input.name.trim(), 1, 100, "a name") {
        errors.add("name", problem);
    }
    if let Some(problem) = validation::url_problem(input.url.trim()) {
        errors.add("url", problem);
    }
    let asked = match input.trigger.as_str() {
        "" => Some(Trigger::Manual),
        t => Trigger::parse(t),
    };
    match asked {
        Some(Trigger::Manual) => {}
        Some(Trigger::OnRelease) if is_first => {}
        Some(Trigger::AfterPrevious) if !is_first => {}
        Some(Trigger::Scheduled) => errors.add(
            "trigger",
            "Set a schedule on the environment's settings page.",
        ),
        Some(Trigger::AfterPrevious) => {
            errors.add("trigger", "The first environment has no previous one.");
        }
        Some(Trigger::OnRelease) => errors.add(
            "trigger",
            "Only the first environment deploys on release creation.",
        ),
        None => errors.add("trigger", "Choose a trigger."),
    }
    errors.into_result()?;
    Ok(asked.unwrap_or(Trigger::Manual))
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
    project_id: ProjectId,
    input: &EnvironmentInput,
) -> Result<Environment, EnvironmentError> {
    conn.transaction(|conn| {
        let existing = list(conn, project_id)?;
        let trigger = validate(input, existing.is_empty()).map_err(EnvironmentError::Invalid)?;
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
        let trigger = validate(input, is_first).map_err(EnvironmentError::Invalid)?;
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

pub use crate::domain::ordering::Direction;
use crate::domain::ordering::{self, OrderedList};

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
        let (this, other) =
            super::ordering::neighbours(&pipeline, |e| e.id == environment.id, direction)
                .ok_or(diesel::result::Error::NotFound)?;
        let Some(other) = other else {
            return Err(EnvironmentError::Refused(
                "It is already at that end of the pipeline.".to_owned(),
            ));
        };
        ordering::swap(
            conn,
            OrderedList::Pipeline(environment.project_id),
            (this.id.0, this.position),
            (other.id.0, other.position),
        )?;
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
        ordering::close_gap(
            conn,
            OrderedList::Pipeline(environment.project_id),
            environment.position,
        )?;
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
