//! "Why not yet": for each environment a release could enter next, every
//! condition with its state — success in the previous environment,
//! approvals (who approved, who may still), the deployment window, a
//! not-before time, and the viewer's own right.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool};

use super::access::{ProjectAccess, Role};
use super::environments::Environment;
use super::releases::{Release, TimelineStage};
use crate::db::schema::{approvals, grants, team_members, users};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Met,
    Unmet,
    Waiting,
}

impl State {
    pub fn class(&self) -> &'static str {
        match self {
            Self::Met => "ok",
            Self::Unmet => "no",
            Self::Waiting => "wait",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub state: State,
    pub text: String,
}

fn check(state: State, text: impl Into<String>) -> Check {
    Check {
        state,
        text: text.into(),
    }
}

/// An environment's id, whether its window is open now, and when it next
/// opens.
type WindowState = (i64, bool, Option<chrono::DateTime<Utc>>);

/// The window state of each environment (one query).
fn windows_open(
    conn: &mut PgConnection,
    pipeline: &[Environment],
) -> QueryResult<Vec<WindowState>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Bool)]
        open: bool,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
        next_open: Option<chrono::DateTime<Utc>>,
    }
    let ids: Vec<i64> = pipeline.iter().map(|e| e.id).collect();
    let rows: Vec<Row> = crate::db::prepared(
        diesel::sql_query(
            "SELECT e.id, environment_window_open(e, now()) AS open, environment_window_next_open(e, now()) AS next_open
               FROM environments e WHERE e.id = ANY($1)",
        )
        .bind::<Array<BigInt>, _>(ids),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.open, r.next_open))
        .collect())
}

/// Display names of everyone holding `approver` on an environment.
fn approvers_of(conn: &mut PgConnection, environment_id: i64) -> QueryResult<Vec<(i64, String)>> {
    let direct = grants::table
        .inner_join(users::table)
        .filter(grants::environment_id.eq(environment_id))
        .filter(grants::role.eq("approver"))
        .filter(users::disabled.eq(false))
        .select((users::id, users::display_name))
        .load::<(i64, String)>(conn)?;
    let via_teams = grants::table
        .inner_join(team_members::table.on(team_members::team_id.nullable().eq(grants::team_id)))
        .inner_join(users::table.on(users::id.eq(team_members::user_id)))
        .filter(grants::environment_id.eq(environment_id))
        .filter(grants::role.eq("approver"))
        .filter(users::disabled.eq(false))
        .select((users::id, users::display_name))
        .load::<(i64, String)>(conn)?;
    let mut all: Vec<(i64, String)> = direct.into_iter().chain(via_teams).collect();
    all.sort();
    all.dedup();
    Ok(all)
}

/// The checklist per stage; empty where the release is not heading.
pub fn for_release(
    conn: &mut PgConnection,
    release: &Release,
    pipeline: &[Environment],
    timeline: &[TimelineStage],
    access: &ProjectAccess,
) -> QueryResult<Vec<Vec<Check>>> {
    let open = windows_open(conn, pipeline)?;
    let mut out = Vec::new();
    for (k, stage) in timeline.iter().enumerate() {
        let env = pipeline
            .iter()
            .find(|e| e.id == stage.environment.id)
            .unwrap_or(&stage.environment);
        let active = stage.deployments.iter().rev().find(|d| d.is_active());
        let prev_ok =
            k == 0 || env.id == release.first_environment_id || timeline[k - 1].succeeded();
        let next_step =
            active.is_some() || (!stage.succeeded() && (prev_ok || timeline[k - 1].reached()));
        if !next_step {
            out.push(Vec::new());
            continue;
        }
        let mut checks = Vec::new();
        if k > 0 && env.id != release.first_environment_id {
            let prev = &timeline[k - 1].environment.name;
            checks.push(if prev_ok {
                check(State::Met, format!("Succeeded in {prev}"))
            } else {
                check(State::Unmet, format!("Not yet succeeded in {prev}"))
            });
        }
        let required = env.required_approvals;
        if required > 0 {
            match active.filter(|d| d.status == "awaiting_approval") {
                Some(d) => {
                    let decided: Vec<(i64, String)> = approvals::table
                        .inner_join(users::table)
                        .filter(approvals::deployment_id.eq(d.id))
                        .filter(approvals::decision.eq_any(["approve", "defer"]))
                        .select((users::id, users::display_name))
                        .load(conn)?;
                    let by: Vec<&str> = decided.iter().map(|a| a.1.as_str()).collect();
                    let still: Vec<String> = approvers_of(conn, env.id)?
                        .into_iter()
                        .filter(|(id, _)| {
                            !decided.iter().any(|a| a.0 == *id)
                                && (env.allow_self_approval || d.requested_by_id != Some(*id))
                        })
                        .map(|(_, name)| name)
                        .collect();
                    let mut text = format!("Approvals {} of {required}", decided.len());
                    if !by.is_empty() {
                        text.push_str(&format!(": approved by {}", by.join(", ")));
                    }
                    text.push_str(&if still.is_empty() {
                        "; nobody else holds the approver role here".to_owned()
                    } else {
                        format!("; may still approve: {}", still.join(", "))
                    });
                    checks.push(check(State::Waiting, text));
                }
                None if active.is_none() => checks.push(check(
                    State::Waiting,
                    format!(
                        "Needs {required} approval{} once requested",
                        if required == 1 { "" } else { "s" }
                    ),
                )),
                None => checks.push(check(State::Met, "Approved")),
            }
        }
        if let Some(window) = env.window_text() {
            let state = open.iter().find(|(id, _, _)| *id == env.id);
            checks.push(match state {
                Some((_, true, _)) => check(State::Met, format!("Window open now ({window})")),
                Some((_, false, Some(next))) => check(
                    State::Waiting,
                    format!(
                        "Window closed now; it opens {} UTC ({window})",
                        next.format("%a %b %-d, %H:%M")
                    ),
                ),
                _ => check(
                    State::Waiting,
                    format!("Window closed now; deploys only {window}"),
                ),
            });
        }
        if let Some(freeze) = super::freezes::holding(conn, env.id, Utc::now())? {
            let overridden = active.is_some_and(|d| d.is_override);
            checks.push(check(
                if overridden { State::Met } else { State::Unmet },
                format!(
                    "Frozen: {} ({}){}",
                    freeze.reason,
                    freeze.when(),
                    if overridden {
                        ", overridden by break-glass"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Some(nb) = active
            .and_then(|d| d.not_before)
            .filter(|nb| *nb > Utc::now())
        {
            checks.push(check(
                State::Waiting,
                format!("Not before {} UTC", nb.format("%b %-d, %H:%M")),
            ));
        }
        checks.push(if access.has(env.id, Role::Deployer) {
            check(State::Met, format!("You may deploy to {}", env.name))
        } else {
            check(
                State::Unmet,
                format!("You need the deployer role on {}", env.name),
            )
        });
        out.push(checks);
    }
    Ok(out)
}
