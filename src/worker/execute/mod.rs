//! Running one claimed deployment: its steps in order, output streamed into
//! the log as it is produced (masked, capped), a lease renewed while it
//! runs, and a cancel or timeout stopping the whole process group.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::db::DbPool;
use crate::domain::deployments::{self, Deployment, Outcome, StepStatus};
use crate::domain::ids::DeploymentId;
use crate::domain::secrets;
use crate::domain::steps::{Step, StepKind};

use super::WorkerConfig;
use super::address_policy::AddressPolicy;
use super::plan::{self, Plan};
use super::webhook;

mod log_sink;
mod script;
mod verify;

use log_sink::LogSink;
use script::run_script;

/// Why a step stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Shutdown,
}

/// Keeps the lease alive from its own thread and raises the cancel flag
/// when someone asks, or when the lease was lost. It stops as soon as the
/// sender of `done` is dropped: a deployment that ends sooner than the
/// first renewal waits for nothing.
fn heartbeat(
    pool: DbPool,
    config: WorkerConfig,
    worker: String,
    deployment_id: DeploymentId,
    cancel: Arc<AtomicBool>,
    done: mpsc::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let every = (config.lease / 3).min(Duration::from_millis(500));
        // Nothing is ever sent: the run ending drops the sender.
        while let Err(mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(every) {
            let renewed = pool
                .get()
                .map_err(anyhow::Error::from)
                .and_then(|mut conn| {
                    Ok(deployments::renew_lease(
                        &mut conn,
                        deployment_id,
                        &worker,
                        config.lease,
                    )?)
                });
            match renewed {
                Ok(Some(true) | None) => cancel.store(true, Ordering::SeqCst),
                Ok(Some(false)) => {}
                Err(err) => {
                    tracing::warn!(deployment = %deployment_id, "renewing the lease: {err}");
                }
            }
        }
    })
}

/// How a run went, and what is left to record with its outcome.
struct Ran {
    outcome: Outcome,
    /// Log lines not written yet: they go in with the outcome.
    log: Vec<(Option<i32>, &'static str, String)>,
    /// Whether step rows were recorded (some may still be open).
    steps: bool,
}

/// Runs a claimed deployment to its end and records the outcome.
pub fn execute(
    pool: &DbPool,
    config: &WorkerConfig,
    worker: &str,
    deployment: Deployment,
    shutdown: &AtomicBool,
) {
    let id = deployment.id;
    let cancel = Arc::new(AtomicBool::new(false));
    let (done, beating) = mpsc::channel();
    let beat = heartbeat(
        pool.clone(),
        config.clone(),
        worker.to_owned(),
        id,
        cancel.clone(),
        beating,
    );
    let ran = run(pool, config, worker, &deployment, &cancel, shutdown);
    drop(done);
    let _ = beat.join();
    let outcome = ran.outcome;
    // The last log lines, the steps left open and the outcome, in one
    // transaction: one commit to end a deployment.
    let record = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| {
            let recorded =
                deployments::finish_with_log(&mut conn, worker, id, &outcome, &ran.log, ran.steps);
            if recorded.is_err() {
                // Keep the log even when the outcome could not be recorded.
                let _ = deployments::append_log(&mut conn, id, &ran.log);
            }
            Ok(recorded?)
        });
    match record {
        Ok(true) => tracing::info!(deployment = %id, worker, ?outcome, "deployment finished"),
        Ok(false) => tracing::warn!(
            deployment = %id,
            worker,
            "deployment was no longer ours when it finished"
        ),
        Err(err) => tracing::error!(deployment = %id, worker, "recording the outcome: {err:#}"),
    }
}

fn run(
    pool: &DbPool,
    config: &WorkerConfig,
    worker: &str,
    deployment: &Deployment,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Ran {
    let failed = |note: String| Ran {
        outcome: Outcome::Failed(note),
        log: Vec::new(),
        steps: false,
    };
    let plan = match pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| plan::load(&mut conn, deployment, &config.secrets))
    {
        Ok(plan) => plan,
        Err(err) => return failed(format!("Could not prepare the run: {err}")),
    };
    let mut log = LogSink::new(
        pool.clone(),
        deployment.id,
        plan.secrets.clone(),
        config.log_cap,
    );
    let names: Vec<(String, StepKind, String)> = plan
        .steps
        .iter()
        .map(|s| {
            let instructions = if s.kind == StepKind::Manual {
                s.script.clone()
            } else {
                String::new()
            };
            (s.name.clone(), s.kind, instructions)
        })
        .collect();
    if let Err(err) = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut c| Ok(deployments::plan_steps(&mut c, deployment.id, &names)?))
    {
        return failed(format!("Could not record the steps: {err}"));
    }
    for note in &plan.notes {
        log.system(None, note);
    }
    if plan.steps.is_empty() {
        log.system(None, "No steps to run.");
    }
    let mut outcome = Outcome::Succeeded;
    for (i, step) in plan.steps.iter().enumerate() {
        let position = i as i32;
        set_step(pool, deployment.id, position, StepStatus::Running, "");
        log.system(Some(position), &format!("▶ {} ({})", step.name, step.kind));
        let started = Instant::now();
        let result = match step.kind {
            StepKind::Http => run_http(
                &plan,
                step,
                position,
                &mut log,
                &config.webhook_policy,
                cancel,
                shutdown,
            ),
            StepKind::Script => run_script(&plan, step, Some(position), &mut log, cancel, shutdown),
            StepKind::Manual => run_manual(
                pool,
                deployment.id,
                step,
                position,
                &mut log,
                cancel,
                shutdown,
            ),
        };
        let took = format!("{:.1} s", started.elapsed().as_secs_f64());
        match result {
            Ok(detail) => {
                log.system(
                    Some(position),
                    &format!("✔ {} succeeded in {took}", step.name),
                );
                set_step(
                    pool,
                    deployment.id,
                    position,
                    StepStatus::Succeeded,
                    &detail,
                );
            }
            Err(StepFailure::Failed(detail)) => {
                log.system(
                    Some(position),
                    &format!("✘ {} failed after {took}: {detail}", step.name),
                );
                set_step(pool, deployment.id, position, StepStatus::Failed, &detail);
                outcome = Outcome::Failed(format!("Step “{}” failed: {detail}", step.name));
                break;
            }
            Err(StepFailure::Stopped(Stop::Cancelled)) => {
                log.system(
                    Some(position),
                    &format!("■ {} stopped: the deployment was cancelled", step.name),
                );
                set_step(
                    pool,
                    deployment.id,
                    position,
                    StepStatus::Cancelled,
                    "cancelled",
                );
                outcome = Outcome::Cancelled(
                    "Cancelled while running; the running step was stopped.".to_owned(),
                );
                break;
            }
            Err(StepFailure::Stopped(Stop::Shutdown)) => {
                log.system(
                    Some(position),
                    &format!("■ {} stopped: the worker was shut down", step.name),
                );
                set_step(
                    pool,
                    deployment.id,
                    position,
                    StepStatus::Failed,
                    "worker shut down",
                );
                outcome = Outcome::Failed(
                    "The worker was shut down while this ran. Redeploy to try again.".to_owned(),
                );
                break;
            }
        }
    }
    if outcome == Outcome::Succeeded && !plan.checks.is_empty() {
        outcome = verification(pool, config, worker, &plan, &mut log, cancel, shutdown);
    }
    Ran {
        outcome,
        log: log.take_pending(),
        steps: !names.is_empty(),
    }
}

/// Runs the checks once the steps succeeded; how the deployment ends.
fn verification(
    pool: &DbPool,
    config: &WorkerConfig,
    worker: &str,
    plan: &Plan,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Outcome {
    let started = pool.get().map_err(anyhow::Error::from).and_then(|mut c| {
        Ok(deployments::start_verifying(
            &mut c,
            plan.deployment_id,
            worker,
        )?)
    });
    if let Err(err) = started {
        tracing::warn!(deployment = %plan.deployment_id, "recording verification: {err}");
    }
    let result = verify::verify(
        plan,
        log,
        &config.webhook_policy,
        &config.clock,
        cancel,
        shutdown,
    );
    match result {
        Ok(detail) => {
            log.system(None, &format!("✔ Verified: {detail}."));
            Outcome::Succeeded
        }
        Err(StepFailure::Failed(detail)) => {
            let note = format!("{}{detail}.", deployments::VERIFICATION_FAILED);
            log.system(None, &format!("✘ {note}"));
            Outcome::FailedVerification(note)
        }
        Err(StepFailure::Stopped(Stop::Cancelled)) => {
            log.system(
                None,
                "■ Verification stopped: the deployment was cancelled.",
            );
            Outcome::Cancelled("Cancelled while verifying.".to_owned())
        }
        Err(StepFailure::Stopped(Stop::Shutdown)) => {
            log.system(None, "■ Verification stopped: the worker was shut down.");
            Outcome::Failed(
                "The worker was shut down while verifying. Redeploy to try again.".to_owned(),
            )
        }
    }
}

fn set_step(
    pool: &DbPool,
    deployment_id: DeploymentId,
    position: i32,
    status: StepStatus,
    detail: &str,
) {
    if let Err(err) = pool.get().map_err(anyhow::Error::from).and_then(|mut c| {
        Ok(deployments::set_step(
            &mut c,
            deployment_id,
            position,
            status,
            detail,
        )?)
    }) {
        tracing::warn!(deployment = %deployment_id, "recording a step: {err}");
    }
}

enum StepFailure {
    Failed(String),
    Stopped(Stop),
}

fn stop_reason(cancel: &AtomicBool, shutdown: &AtomicBool) -> Option<Stop> {
    if cancel.load(Ordering::SeqCst) {
        Some(Stop::Cancelled)
    } else if shutdown.load(Ordering::SeqCst) {
        Some(Stop::Shutdown)
    } else {
        None
    }
}

/// Waits at a manual step for an approver's decision, or its timeout. The
/// heartbeat keeps the lease meanwhile, so a worker lost while waiting is
/// reaped like any other.
fn run_manual(
    pool: &DbPool,
    deployment_id: DeploymentId,
    step: &Step,
    position: i32,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<String, StepFailure> {
    let timeout = Duration::from_secs(step.timeout_seconds.max(1) as u64);
    log.system(
        Some(position),
        &format!(
            "Waiting for a person (an approver here) to proceed or abort, at most {} s.",
            timeout.as_secs()
        ),
    );
    for line in step.script.lines() {
        log.push(Some(position), "stdout", line);
    }
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(reason) = stop_reason(cancel, shutdown) {
            return Err(StepFailure::Stopped(reason));
        }
        let decided = pool
            .get()
            .map_err(anyhow::Error::from)
            .and_then(|mut conn| {
                Ok(deployments::manual::decision(
                    &mut conn,
                    deployment_id,
                    position,
                )?)
            });
        match decided {
            Ok(Some(d)) => {
                let note = if d.note.is_empty() {
                    String::new()
                } else {
                    format!(": {}", d.note)
                };
                let what = if d.proceed { "Proceed" } else { "Abort" };
                log.system(
                    Some(position),
                    &format!(
                        "{what} by {} at {} UTC{note}",
                        d.by,
                        d.at.format("%Y-%m-%d %H:%M:%S")
                    ),
                );
                return if d.proceed {
                    Ok(format!("proceeded by {}", d.by))
                } else {
                    Err(StepFailure::Failed(format!("aborted by {}{note}", d.by)))
                };
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(deployment = %deployment_id, "reading a decision: {err}"),
        }
        if Instant::now() >= deadline {
            return Err(StepFailure::Failed(format!(
                "no one decided within {} s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_http(
    plan: &Plan,
    step: &Step,
    position: i32,
    log: &mut LogSink,
    policy: &AddressPolicy,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<String, StepFailure> {
    let url = step.url.clone().unwrap_or_default();
    let agent = webhook::agent(
        policy,
        Duration::from_secs(step.timeout_seconds.max(1) as u64),
    );
    let body = plan.webhook_body();
    let attempts = step.retries.max(0) + 1;
    let mut last = String::new();
    for attempt in 1..=attempts {
        if let Some(reason) = stop_reason(cancel, shutdown) {
            return Err(StepFailure::Stopped(reason));
        }
        log.system(
            Some(position),
            &format!("POST {url} (attempt {attempt} of {attempts})"),
        );
        match agent
            .post(&url)
            .header("User-Agent", "Stagecoach")
            .send_json(&body)
        {
            Ok(mut response) => {
                let status = response.status();
                let text = webhook::body_start(response.body_mut());
                let note = if status.is_redirection() {
                    " (redirects are not followed)"
                } else {
                    ""
                };
                log.push(Some(position), "stdout", &format!("→ {status}{note}"));
                for line in text.lines() {
                    log.push(Some(position), "stdout", line);
                }
                if status.is_success() {
                    return Ok(format!("HTTP {}", status.as_u16()));
                }
                last = format!("HTTP {}", status.as_u16());
            }
            Err(err) => {
                if let Some(refused) = webhook::refusal(&err) {
                    // Not worth retrying: the policy will say the same.
                    let refused = refused.to_string();
                    log.push(
                        Some(position),
                        "stderr",
                        &format!("request refused: {refused}"),
                    );
                    return Err(StepFailure::Failed(refused));
                }
                last = err.to_string();
                log.push(Some(position), "stderr", &format!("request failed: {last}"));
            }
        }
        if attempt < attempts {
            let backoff = Duration::from_secs(1 << (attempt - 1).min(5));
            log.system(
                Some(position),
                &format!("retrying in {} s", backoff.as_secs()),
            );
            let until = Instant::now() + backoff;
            while Instant::now() < until {
                if let Some(reason) = stop_reason(cancel, shutdown) {
                    return Err(StepFailure::Stopped(reason));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Err(StepFailure::Failed(format!(
        "{last} after {attempts} attempt(s)"
    )))
}
