//! An environment's policy: how many run at once and what waits, approvals,
//! the deployment window, and what starts deployments (trigger, schedule).

use super::*;
use crate::domain::weekdays;

/// The policy form as typed.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub max_running: String,
    pub queue_policy: String,
    pub required_approvals: String,
    pub allow_self_approval: bool,
    pub supersede: bool,
    pub rollback_on_failed_verification: bool,
    pub soak_minutes: String,
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
            supersede: environment.supersede,
            rollback_on_failed_verification: environment.rollback_on_failed_verification,
            soak_minutes: environment.soak_minutes.to_string(),
            approval_timeout_hours: environment.approval_timeout_hours.to_string(),
            window_days: environment
                .window_days
                .iter()
                .flatten()
                .map(ToString::to_string)
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
                .map(ToString::to_string)
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
    // Left empty: no soak time.
    let soak = match input.soak_minutes.trim() {
        "" => 0,
        typed => whole(typed, 0..=10_080).unwrap_or_else(|| {
            errors.add(
                "soak_minutes",
                "Use a whole number of minutes from 0 to 10,080 (a week).",
            );
            0
        }),
    };
    // (stored as an array of nullable elements, see `Environment`)
    let days = weekdays::parse_days(&input.window_days, "window_days", &mut errors);
    let time = |value: &str, field: &str, errors: &mut FieldErrors| -> Option<chrono::NaiveTime> {
        match value.trim() {
            "" => None,
            v => chrono::NaiveTime::parse_from_str(v, "%H:%M").map_or_else(
                |_| {
                    errors.add(field, "Use a time like 09:00.");
                    None
                },
                Some,
            ),
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
    let zone = validation::time_zone(
        conn,
        &input.window_time_zone,
        "window_time_zone",
        &mut errors,
    )?;
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
    let schedule_days = weekdays::parse_days(&input.schedule_days, "schedule_days", &mut errors);
    let schedule_time = time(&input.schedule_time, "schedule_time", &mut errors);
    if trigger == Some(Trigger::Scheduled)
        && schedule_time.is_none()
        && !errors.has("schedule_time")
    {
        errors.add("schedule_time", "Give the time the schedule runs.");
    }
    let schedule_zone = validation::time_zone(
        conn,
        &input.schedule_time_zone,
        "schedule_time_zone",
        &mut errors,
    )?;
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
                environments::supersede.eq(input.supersede),
                environments::rollback_on_failed_verification
                    .eq(input.rollback_on_failed_verification),
                environments::soak_minutes.eq(soak),
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
                    "supersede": input.supersede,
                    "rollback_on_failed_verification": input.rollback_on_failed_verification,
                    "soak_minutes": soak,
                    "approval_timeout_hours": timeout,
                    "window": updated.window_text(),
                    "trigger": updated.trigger,
                    "schedule": updated.schedule_text(),
                })),
        )?;
        Ok(updated)
    })
}
