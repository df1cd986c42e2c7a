//! Deployment freezes — one-off date ranges and recurring hours, for a whole
//! project or one environment — and break-glass: an approver may override a
//! freeze or a closed window for one deployment, with a reason, once a
//! second approver confirms.

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::deployments::{Deployment, DeploymentStatus};
use super::environments::Environment;
use super::validation::{self, FieldErrors};
use crate::db::schema::{deployments, environments, freezes};
use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId};
use crate::input::dates::{self, DateProblem};

#[derive(Debug, Clone, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = freezes)]
pub struct Freeze {
    pub id: i64,
    pub project_id: ProjectId,
    pub environment_id: Option<EnvironmentId>,
    pub reason: String,
    pub kind: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub days: Vec<Option<i16>>,
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
    pub time_zone: String,
}

impl Freeze {
    /// When it holds, in words.
    pub fn when(&self) -> String {
        if self.kind == "once" {
            let f = |t: Option<DateTime<Utc>>| {
                t.map(|t| t.format("%b %-d, %Y %H:%M").to_string())
                    .unwrap_or_default()
            };
            return format!("{} – {} UTC", f(self.starts_at), f(self.ends_at));
        }
        let days = super::weekdays::days_text(&self.days);
        let t = |t: Option<NaiveTime>| t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default();
        format!(
            "{days}, {}–{} {}",
            t(self.start_time),
            t(self.end_time),
            self.time_zone
        )
    }
}

pub fn list(conn: &mut PgConnection, project_id: ProjectId) -> QueryResult<Vec<Freeze>> {
    freezes::table
        .filter(freezes::project_id.eq(project_id))
        .order(freezes::id.asc())
        .select(Freeze::as_select())
        .load(conn)
}

/// The freeze holding `environment` at `at`, if any.
pub fn holding(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    at: DateTime<Utc>,
) -> QueryResult<Option<Freeze>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        id: Option<i64>,
    }
    let id: Option<i64> = crate::db::prepared(
        diesel::sql_query(
            "SELECT environment_freeze(e, $2) AS id FROM environments e WHERE e.id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(environment_id)
        .bind::<diesel::sql_types::Timestamptz, _>(at),
    )
    .get_result::<Id>(conn)
    .optional()?
    .and_then(|r| r.id);
    match id {
        Some(id) => freezes::table
            .find(id)
            .select(Freeze::as_select())
            .first(conn)
            .optional(),
        None => Ok(None),
    }
}

/// The freeze form as typed.
#[derive(Debug, Clone, Default)]
pub struct FreezeInput {
    /// An environment slug, or empty for the whole project.
    pub environment: String,
    pub reason: String,
    pub kind: String,
    pub starts_at: String,
    pub ends_at: String,
    pub days: Vec<String>,
    pub start_time: String,
    pub end_time: String,
    pub time_zone: String,
}

/// How this area says no (see `rejection`).
pub type FreezeError = crate::domain::rejection::Rejection;

/// A start or end, or the message for its field (`example` shows the format).
fn utc(value: &str, example: &'static str) -> Result<DateTime<Utc>, &'static str> {
    match dates::datetime_utc(value) {
        Ok(Some(t)) => Ok(t),
        Ok(None) | Err(DateProblem::Malformed) => Err(example),
        Err(DateProblem::OutOfRange) => Err(dates::OUT_OF_RANGE),
    }
}

pub fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    pipeline: &[Environment],
    input: &FreezeInput,
) -> Result<Freeze, FreezeError> {
    let mut errors = FieldErrors::new();
    let environment_id = match input.environment.as_str() {
        "" => None,
        slug => match pipeline.iter().find(|e| e.slug == slug) {
            Some(e) => Some(e.id),
            None => {
                errors.add("environment", "Choose an environment of this project.");
                None
            }
        },
    };
    let reason = input.reason.trim();
    if let Some(problem) = validation::lines_problem(reason) {
        errors.add("reason", problem);
    } else if reason.is_empty() || reason.chars().count() > 500 {
        errors.add("reason", "Say why, in at most 500 characters.");
    }
    let (mut starts, mut ends, mut start_time, mut end_time, mut days) =
        (None, None, None, None, Vec::new());
    match input.kind.as_str() {
        "once" => {
            match utc(
                &input.starts_at,
                "Give the start, like 2026-12-20T00:00 (UTC).",
            ) {
                Ok(t) => starts = Some(t),
                Err(message) => errors.add("starts_at", message),
            }
            match utc(&input.ends_at, "Give the end, like 2027-01-02T00:00 (UTC).") {
                Ok(t) => ends = Some(t),
                Err(message) => errors.add("ends_at", message),
            }
            if matches!((starts, ends), (Some(s), Some(e)) if e <= s) {
                errors.add("ends_at", "The freeze must end after it starts.");
            }
        }
        "recurring" => {
            start_time = NaiveTime::parse_from_str(input.start_time.trim(), "%H:%M").ok();
            end_time = NaiveTime::parse_from_str(input.end_time.trim(), "%H:%M").ok();
            if start_time.is_none() {
                errors.add("start_time", "Use a time like 16:00.");
            }
            if end_time.is_none() {
                errors.add("end_time", "Use a time like 08:00.");
            }
            if start_time.is_some() && start_time == end_time {
                errors.add("end_time", "It must not end when it starts.");
            }
            days = super::weekdays::parse_days(&input.days, "days", &mut errors)
                .into_iter()
                .map(Some)
                .collect();
        }
        _ => errors.add("kind", "Choose a one-off or a recurring freeze."),
    }
    let zone = super::validation::time_zone(conn, &input.time_zone, "time_zone", &mut errors)?;
    errors.into_result().map_err(FreezeError::Invalid)?;
    conn.transaction(|conn| {
        let freeze = diesel::insert_into(freezes::table)
            .values((
                freezes::project_id.eq(project_id),
                freezes::environment_id.eq(environment_id),
                freezes::reason.eq(reason),
                freezes::kind.eq(&input.kind),
                freezes::starts_at.eq(starts),
                freezes::ends_at.eq(ends),
                freezes::days.eq(&days),
                freezes::start_time.eq(start_time),
                freezes::end_time.eq(end_time),
                freezes::time_zone.eq(&zone),
                freezes::created_by.eq(actor.user_id),
            ))
            .returning(Freeze::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("freeze.added", "project", project_id)
                .in_project(project_id)
                .details(json!({ "reason": freeze.reason, "when": freeze.when(), "environment_id": environment_id })),
        )?;
        Ok(freeze)
    })
}

pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    freeze_id: i64,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let reason: String = diesel::delete(
            freezes::table
                .filter(freezes::id.eq(freeze_id))
                .filter(freezes::project_id.eq(project_id)),
        )
        .returning(freezes::reason)
        .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("freeze.removed", "project", project_id)
                .in_project(project_id)
                .details(json!({ "reason": reason })),
        )
    })
}

/// An approver asks to override a freeze or closed window for one
/// deployment. The caller has checked the approver role.
pub fn request_override(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
    reason: &str,
) -> Result<(), FreezeError> {
    let reason = reason.trim();
    let problem = validation::lines_problem(reason)
        .or((reason.is_empty() || reason.chars().count() > 500)
            .then_some("Say why this cannot wait, in at most 500 characters."));
    if let Some(problem) = problem {
        let mut errors = FieldErrors::new();
        errors.add("reason", problem);
        return Err(FreezeError::Invalid(errors));
    }
    override_step(
        conn,
        actor,
        deployment_id,
        "deployment.override_requested",
        |conn, d| {
            if !matches!(
                d.status,
                DeploymentStatus::AwaitingApproval | DeploymentStatus::Queued
            ) {
                return Err(FreezeError::Refused(
                    "Only a waiting deployment can be overridden.".to_owned(),
                ));
            }
            diesel::update(deployments::table.find(deployment_id))
                .set((
                    deployments::override_reason.eq(reason),
                    deployments::override_requested_by.eq(actor.user_id),
                    deployments::override_confirmed_by.eq(None::<i64>),
                ))
                .execute(conn)?;
            Ok(json!({ "reason": reason }))
        },
    )
}

/// A second approver confirms the override (never the one who asked: a
/// constraint holds that too).
pub fn confirm_override(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
) -> Result<(), FreezeError> {
    override_step(
        conn,
        actor,
        deployment_id,
        "deployment.override_confirmed",
        |conn, d| {
            let Some(requested_by) = d.override_requested_by else {
                return Err(FreezeError::Refused(
                    "No override was asked for.".to_owned(),
                ));
            };
            if Some(requested_by) == actor.user_id {
                return Err(FreezeError::Refused(
                    "A second approver must confirm the override.".to_owned(),
                ));
            }
            diesel::update(deployments::table.find(deployment_id))
                .set(deployments::override_confirmed_by.eq(actor.user_id))
                .execute(conn)?;
            Ok(json!({ "reason": d.override_reason }))
        },
    )
}

/// One half of the break-glass override, in one transaction: the
/// deployment locked, the change `step` makes (returning the audit
/// event's details), and the event `action`.
fn override_step(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
    action: &'static str,
    step: impl FnOnce(&mut PgConnection, &Deployment) -> Result<serde_json::Value, FreezeError>,
) -> Result<(), FreezeError> {
    conn.transaction(|conn| {
        let d: Deployment = deployments::table
            .find(deployment_id)
            .select(Deployment::as_select())
            .for_update()
            .first(conn)?;
        let details = step(conn, &d)?;
        let project_id: ProjectId = environments::table
            .find(d.environment_id)
            .select(environments::project_id)
            .first(conn)?;
        audit::record(
            conn,
            actor,
            Event::new(action, "deployment", deployment_id)
                .in_project(project_id)
                .details(details),
        )?;
        Ok(())
    })
}
