//! Environments (stages) of a project's pipeline: listing and the admin's
//! edits — add, rename, set URL and trigger, reorder, remove.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
pub use super::states::{QueuePolicy, Trigger};
use super::validation::{self, FieldErrors};
use crate::db::schema::{environment_releases, environments, projects};

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

/// Where an environment is: its project (id and slug) and its own name.
#[derive(Debug, Clone)]
pub struct Place {
    pub project_id: i64,
    pub project_slug: String,
    pub environment_name: String,
}

pub fn place(conn: &mut PgConnection, environment_id: i64) -> QueryResult<Place> {
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
            errors.add("trigger", "The first environment has no previous one.")
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
    project_id: i64,
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

pub use super::ordering::Direction;

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

/// The policy form as typed.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub max_running: String,
    pub queue_policy: String,
    pub required_approvals: String,
    pub allow_self_approval: bool,
    pub approval_timeout_hours: String,
    pub window_days: Vec<String>,
    pub window_start: String,
    pub window_end: String,
    pub window_time_zone: String,
    /// Empty keeps the environment's trigger.
    pub trigger: String,
    pub schedule_days: Vec<String>,
    pub schedule_time: String,
    pub schedule_time_zone: String,
}

impl PolicyInput {
    /// The form as it stands for an environment.
    pub fn of(environment: &Environment) -> Self {
        Self {
            max_running: environment.max_running.to_string(),
            queue_policy: environment.queue_policy.as_str().to_owned(),
            required_approvals: environment.required_approvals.to_string(),
            allow_self_approval: environment.allow_self_approval,
            approval_timeout_hours: environment.approval_timeout_hours.to_string(),
            window_days: environment
                .window_days
                .iter()
                .flatten()
                .map(|d| d.to_string())
                .collect(),
            window_start: environment
                .window_start
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            window_end: environment
                .window_end
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            window_time_zone: environment.window_time_zone.clone(),
            trigger: environment.trigger.as_str().to_owned(),
            schedule_days: environment
                .schedule_days
                .iter()
                .flatten()
                .map(|d| d.to_string())
                .collect(),
            schedule_time: environment
                .schedule_time
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            schedule_time_zone: environment.schedule_time_zone.clone(),
        }
    }

    pub fn has_day(&self, day: &i16) -> bool {
        self.window_days.iter().any(|d| d == &day.to_string())
    }

    pub fn has_schedule_day(&self, day: &i16) -> bool {
        self.schedule_days.iter().any(|d| d == &day.to_string())
    }
}

fn whole(value: &str, range: std::ops::RangeInclusive<i32>) -> Option<i32> {
    value
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|n| range.contains(n))
}

/// Sets an environment's policy: queue, approvals and deployment window.
pub fn set_policy(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    input: &PolicyInput,
) -> Result<Environment, EnvironmentError> {
    let mut errors = FieldErrors::new();
    let max = whole(&input.max_running, 1..=20).unwrap_or_else(|| {
        errors.add("max_running", "Use a whole number from 1 to 20.");
        1
    });
    let queue_policy = QueuePolicy::parse(&input.queue_policy).unwrap_or_else(|| {
        errors.add("queue_policy", "Choose how waiting deployments run.");
        QueuePolicy::All
    });
    let approvals = whole(&input.required_approvals, 0..=10).unwrap_or_else(|| {
        errors.add("required_approvals", "Use a whole number from 0 to 10.");
        0
    });
    let timeout = whole(&input.approval_timeout_hours, 1..=8760).unwrap_or_else(|| {
        errors.add(
            "approval_timeout_hours",
            "Use a whole number of hours from 1 to 8,760.",
        );
        168
    });
    let mut days: Vec<i16> = Vec::new();
    // (stored as an array of nullable elements, see `Environment`)
    for day in &input.window_days {
        match day.parse::<i16>() {
            Ok(d) if (1..=7).contains(&d) => days.push(d),
            _ => errors.add("window_days", "Choose days of the week."),
        }
    }
    days.sort();
    days.dedup();
    let time = |value: &str, field: &str, errors: &mut FieldErrors| -> Option<chrono::NaiveTime> {
        match value.trim() {
            "" => None,
            v => chrono::NaiveTime::parse_from_str(v, "%H:%M")
                .map(Some)
                .unwrap_or_else(|_| {
                    errors.add(field, "Use a time like 09:00.");
                    None
                }),
        }
    };
    let start = time(&input.window_start, "window_start", &mut errors);
    let end = time(&input.window_end, "window_end", &mut errors);
    if start.is_some() != end.is_some() && !errors.has("window_start") && !errors.has("window_end")
    {
        errors.add(
            if start.is_none() {
                "window_start"
            } else {
                "window_end"
            },
            "Give both the opening and the closing time, or neither.",
        );
    }
    if start.is_some() && start == end {
        errors.add("window_end", "The window must not close when it opens.");
    }
    let zone = match input.window_time_zone.trim() {
        "" => "UTC".to_owned(),
        z => z.to_owned(),
    };
    let known = super::validation::time_zone_known(conn, &zone)?;
    if !known {
        errors.add(
            "window_time_zone",
            "Use a time zone name like Europe/Berlin or UTC.",
        );
    }
    let is_first = list(conn, environment.project_id)?
        .first()
        .is_some_and(|e| e.id == environment.id);
    let trigger = match input.trigger.as_str() {
        "" => Some(environment.trigger),
        t => Trigger::parse(t),
    };
    let trigger = match (trigger, is_first) {
        (Some(Trigger::Manual), _)
        | (Some(Trigger::OnRelease), true)
        | (Some(Trigger::AfterPrevious | Trigger::Scheduled), false) => trigger,
        (Some(Trigger::AfterPrevious | Trigger::Scheduled), true) => {
            errors.add(
                "trigger",
                "The first environment has no previous one to take releases from.",
            );
            None
        }
        _ => {
            errors.add("trigger", "Choose what starts a deployment here.");
            None
        }
    };
    let mut schedule_days: Vec<i16> = Vec::new();
    for day in &input.schedule_days {
        match day.parse::<i16>() {
            Ok(d) if (1..=7).contains(&d) => schedule_days.push(d),
            _ => errors.add("schedule_days", "Choose days of the week."),
        }
    }
    schedule_days.sort();
    schedule_days.dedup();
    let schedule_time = time(&input.schedule_time, "schedule_time", &mut errors);
    if trigger == Some(Trigger::Scheduled)
        && schedule_time.is_none()
        && !errors.has("schedule_time")
    {
        errors.add("schedule_time", "Give the time the schedule runs.");
    }
    let schedule_zone = match input.schedule_time_zone.trim() {
        "" => "UTC".to_owned(),
        z => z.to_owned(),
    };
    let schedule_zone_known = super::validation::time_zone_known(conn, &schedule_zone)?;
    if !schedule_zone_known {
        errors.add(
            "schedule_time_zone",
            "Use a time zone name like Europe/Berlin or UTC.",
        );
    }
    errors.into_result().map_err(EnvironmentError::Invalid)?;
    // Without errors the trigger was read.
    let trigger = trigger.unwrap_or(environment.trigger);
    // A new or changed schedule counts from now: no catching up on slots
    // that passed before it was set.
    let schedule_changed = trigger == Trigger::Scheduled
        && (environment.trigger != Trigger::Scheduled
            || environment.schedule_time != schedule_time
            || environment.schedule_time_zone != schedule_zone);
    conn.transaction(|conn| {
        if schedule_changed {
            diesel::update(environments::table.find(environment.id))
                .set(environments::schedule_checked_at.eq(Utc::now()))
                .execute(conn)?;
        }
        let updated = diesel::update(environments::table.find(environment.id))
            .set((
                environments::trigger.eq(trigger),
                environments::schedule_days
                    .eq(schedule_days.iter().map(|d| Some(*d)).collect::<Vec<_>>()),
                environments::schedule_time.eq(schedule_time),
                environments::schedule_time_zone.eq(&schedule_zone),
                environments::max_running.eq(max),
                environments::queue_policy.eq(queue_policy),
                environments::required_approvals.eq(approvals),
                environments::allow_self_approval.eq(input.allow_self_approval),
                environments::approval_timeout_hours.eq(timeout),
                environments::window_days.eq(days.iter().map(|d| Some(*d)).collect::<Vec<_>>()),
                environments::window_start.eq(start),
                environments::window_end.eq(end),
                environments::window_time_zone.eq(&zone),
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
                    "required_approvals": approvals,
                    "allow_self_approval": input.allow_self_approval,
                    "approval_timeout_hours": timeout,
                    "window": updated.window_text(),
                    "trigger": updated.trigger,
                    "schedule": updated.schedule_text(),
                })),
        )?;
        Ok(updated)
    })
}
