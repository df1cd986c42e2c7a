//! Verification: after the steps succeed, the plan's checks are tried, each
//! at its own interval, until every check's latest try passed together (the
//! deployment succeeds) or a failing check has no try left within its time
//! (it fails, with each try's evidence in the log). Time is the worker's
//! `Clock`, so tests choose it.

use super::*;
use crate::domain::checks::{self, Check, CheckKind};
use crate::worker::clock::Clock;

/// How long one HTTP try may take: its interval, within 1 to 30 s.
fn request_timeout(check: &Check) -> Duration {
    Duration::from_secs(check.interval_seconds.clamp(1, 30) as u64)
}

fn seconds(n: i32) -> Duration {
    Duration::from_secs(u64::try_from(n.max(1)).unwrap_or(1))
}

pub(super) fn verify(
    plan: &Plan,
    log: &mut LogSink,
    policy: &AddressPolicy,
    clock: &Clock,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<String, StepFailure> {
    let checks = &plan.checks;
    log.system(
        None,
        &format!(
            "Verifying: {} check{} until all pass together.",
            checks.len(),
            if checks.len() == 1 { "" } else { "s" }
        ),
    );
    for check in checks {
        log.system(
            None,
            &format!("• {}: {} ({})", check.name, check.summary(), check.timing()),
        );
    }
    let values = plan.script_env();
    let start = clock.now();
    let mut due = vec![Duration::ZERO; checks.len()];
    let mut last: Vec<Option<Result<String, String>>> = vec![None; checks.len()];
    loop {
        if let Some(reason) = stop_reason(cancel, shutdown) {
            return Err(StepFailure::Stopped(reason));
        }
        let at = clock.now().saturating_sub(start);
        for (i, check) in checks.iter().enumerate() {
            if due[i] > at {
                continue;
            }
            let result = try_check(plan, check, &values, log, policy, cancel, shutdown)?;
            let (mark, evidence) = match &result {
                Ok(evidence) => ("✔", evidence),
                Err(evidence) => ("✘", evidence),
            };
            log.system(
                None,
                &format!("+{} s {mark} {}: {evidence}", at.as_secs(), check.name),
            );
            due[i] = at + seconds(check.interval_seconds);
            last[i] = Some(result);
        }
        if last.iter().all(|r| matches!(r, Some(Ok(_)))) {
            return Ok(format!(
                "all {} checks passed together at +{} s",
                checks.len(),
                at.as_secs()
            ));
        }
        for (i, check) in checks.iter().enumerate() {
            if let Some(Err(evidence)) = &last[i]
                && due[i] > seconds(check.within_seconds)
            {
                return Err(StepFailure::Failed(format!(
                    "check “{}” still failed after {} s: {evidence}",
                    check.name, check.within_seconds
                )));
            }
        }
        let next = due.iter().min().copied().unwrap_or_default();
        let wait = next.saturating_sub(clock.now().saturating_sub(start));
        clock.sleep(wait, &|| stop_reason(cancel, shutdown).is_some());
    }
}

/// One try of one check: `Ok` with its evidence, passed or not; `Err` only
/// when the deployment was stopped meanwhile.
fn try_check(
    plan: &Plan,
    check: &Check,
    values: &[(String, String)],
    log: &mut LogSink,
    policy: &AddressPolicy,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<Result<String, String>, StepFailure> {
    match check.kind {
        CheckKind::Http => Ok(try_http(check, values, policy)),
        CheckKind::Script => {
            let step = Step {
                id: check.id,
                environment_id: check.environment_id,
                position: check.position,
                kind: StepKind::Script,
                name: check.name.clone(),
                script: check.script.clone(),
                url: None,
                // One try may take the whole window; the window still ends.
                timeout_seconds: check.within_seconds.max(1),
                retries: 0,
            };
            match run_script(plan, &step, None, log, cancel, shutdown) {
                Ok(_) => Ok(Ok("exit code 0".to_owned())),
                Err(StepFailure::Failed(detail)) => Ok(Err(detail)),
                Err(stopped @ StepFailure::Stopped(_)) => Err(stopped),
            }
        }
    }
}

fn try_http(
    check: &Check,
    values: &[(String, String)],
    policy: &AddressPolicy,
) -> Result<String, String> {
    let template = check.url.as_deref().unwrap_or_default();
    let url = checks::expand(template, values).map_err(|missing| {
        format!(
            "the URL names {}, which this release does not set",
            missing
                .iter()
                .map(|n| format!("${{{n}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    if let Some(problem) = crate::domain::validation::url_problem(&url) {
        return Err(format!("the URL, filled in, is not one to call: {problem}"));
    }
    let agent = webhook::agent(policy, request_timeout(check));
    match agent.get(&url).header("User-Agent", "Stagecoach").call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = webhook::body_start(response.body_mut());
            if i32::from(status) != check.expect_status {
                let first = body.lines().next().unwrap_or_default();
                Err(format!(
                    "HTTP {status}, expected {}{}",
                    check.expect_status,
                    if first.is_empty() {
                        String::new()
                    } else {
                        format!(" (“{first}”)")
                    }
                ))
            } else if !check.expect_text.is_empty() && !body.contains(&check.expect_text) {
                Err(format!(
                    "HTTP {status}, but the body does not contain “{}”",
                    check.expect_text
                ))
            } else {
                Ok(format!("HTTP {status}"))
            }
        }
        Err(err) => Err(if let Some(refused) = webhook::refusal(&err) {
            refused.to_string()
        } else if matches!(err, ureq::Error::Timeout(_)) {
            format!("no answer within {} s", request_timeout(check).as_secs())
        } else {
            format!("request failed: {err}")
        }),
    }
}
