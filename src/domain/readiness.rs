//! "Why not yet": for each environment a release could enter next, every
//! condition with its state — success in the previous environment,
//! approvals (who approved, who may still), the deployment window, a
//! not-before time, and the viewer's own right.

use chrono::Utc;
use std::fmt::Write as _;

use super::access::{ProjectAccess, Role};
use super::environments::Environment;
use super::release_view::ReleaseFacts;
use super::releases::{Release, TimelineStage};
use super::states::DeploymentStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Met,
    Unmet,
    Waiting,
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

/// The checklist per stage; empty where the release is not heading.
/// `facts` are the release's (`release_view::facts`): what holds in each
/// environment now. No query of its own.
pub fn for_release(
    release: &Release,
    pipeline: &[Environment],
    timeline: &[TimelineStage],
    access: &ProjectAccess,
    facts: &ReleaseFacts,
) -> Vec<Vec<Check>> {
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
        let now = facts.now(env.id);
        let mut checks = Vec::new();
        if let Some(block) = facts.block.as_ref().filter(|_| !stage.succeeded()) {
            checks.push(check(
                State::Unmet,
                format!("Blocked by {}: {}", block.by, block.reason),
            ));
        }
        if k > 0 && env.id != release.first_environment_id {
            let prev = &timeline[k - 1].environment.name;
            checks.push(if prev_ok {
                check(State::Met, format!("Succeeded in {prev}"))
            } else {
                check(State::Unmet, format!("Not yet succeeded in {prev}"))
            });
            if env.soak_minutes > 0 {
                checks.push(soak_check(env.soak_minutes, prev, &timeline[k - 1]));
            }
        }
        let required = env.required_approvals;
        if required > 0 {
            match active.filter(|d| d.status == DeploymentStatus::AwaitingApproval) {
                Some(d) => {
                    let decided = now.map_or(&[][..], |now| &now.decided);
                    let by: Vec<&str> = decided.iter().map(|a| a.name.as_str()).collect();
                    let still: Vec<&str> = now
                        .map_or(&[][..], |now| &now.approvers)
                        .iter()
                        .filter(|approver| {
                            !decided.iter().any(|a| a.id == approver.id)
                                && (env.allow_self_approval
                                    || d.requested_by_id != Some(approver.id))
                        })
                        .map(|approver| approver.name.as_str())
                        .collect();
                    let mut text = format!("Approvals {} of {required}", decided.len());
                    if !by.is_empty() {
                        let _ = write!(text, ": approved by {}", by.join(", "));
                    }
                    if still.is_empty() {
                        text.push_str("; nobody else holds the approver role here");
                    } else {
                        let _ = write!(text, "; may still approve: {}", still.join(", "));
                    }
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
            let state = now.map(|now| (now.window_open, now.window_next_open));
            checks.push(match state {
                Some((true, _)) => check(State::Met, format!("Window open now ({window})")),
                Some((false, Some(next))) => check(
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
        if let Some(freeze) = now.and_then(|now| now.freeze.as_ref()) {
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
    out
}

/// Soak time in the previous stage: met once its first success there is
/// old enough, waiting until then (with when), unmet before any success.
fn soak_check(minutes: i32, prev: &str, stage: &TimelineStage) -> Check {
    let first_success = stage
        .deployments
        .iter()
        .filter(|d| d.status == DeploymentStatus::Succeeded)
        .filter_map(|d| d.finished_at)
        .min();
    let words = if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    match first_success {
        None => check(
            State::Unmet,
            format!("Needs {words} in {prev} after it succeeds there"),
        ),
        Some(at) => {
            let soaked = at + chrono::Duration::minutes(i64::from(minutes));
            if soaked <= Utc::now() {
                check(State::Met, format!("Soaked {words} in {prev}"))
            } else {
                check(
                    State::Waiting,
                    format!(
                        "Soaking in {prev}: may start here {} UTC ({words} after it succeeded there)",
                        soaked.format("%b %-d, %H:%M")
                    ),
                )
            }
        }
    }
}
