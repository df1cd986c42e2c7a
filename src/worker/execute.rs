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

/// Why a step stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Shutdown,
}

/// Collects log lines, masks secrets, enforces the cap, and writes them in
/// batches so a chatty script costs few round trips.
struct LogSink {
    pool: DbPool,
    deployment_id: DeploymentId,
    secrets: Vec<String>,
    cap: u64,
    written: u64,
    truncated: bool,
    pending: Vec<(Option<i32>, &'static str, String)>,
    last_flush: Instant,
}

/// Longest line kept; longer ones are cut with a note.
const MAX_LINE: usize = 8 * 1024;

impl LogSink {
    fn push(&mut self, step: Option<i32>, stream: &'static str, line: &str) {
        if self.truncated {
            return;
        }
        let mut line = secrets::mask(line.trim_end_matches(['\n', '\r']), &self.secrets);
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" … (line cut)");
        }
        if self.written + line.len() as u64 + 1 > self.cap {
            self.truncated = true;
            self.pending.push((
                None,
                "system",
                format!(
                    "Log truncated: this deployment reached its {} MiB log limit.",
                    self.cap / (1024 * 1024)
                ),
            ));
            self.flush();
            return;
        }
        self.written += line.len() as u64 + 1;
        self.pending.push((step, stream, line));
        if self.pending.len() >= 200 || self.last_flush.elapsed() >= Duration::from_millis(250) {
            self.flush();
        }
    }

    fn system(&mut self, step: Option<i32>, line: &str) {
        self.push(step, "system", line);
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending);
        match self.pool.get() {
            Ok(mut conn) => {
                if let Err(err) = deployments::append_log(&mut conn, self.deployment_id, &lines) {
                    tracing::warn!(deployment = %self.deployment_id, "writing the log: {err}");
                }
            }
            Err(err) => tracing::warn!(deployment = %self.deployment_id, "writing the log: {err}"),
        }
    }
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
                Ok(Some(true)) | Ok(None) => cancel.store(true, Ordering::SeqCst),
                Ok(Some(false)) => {}
                Err(err) => {
                    tracing::warn!(deployment = %deployment_id, "renewing the lease: {err}")
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
    let ran = run(pool, config, &deployment, &cancel, shutdown);
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
    let mut log = LogSink {
        pool: pool.clone(),
        deployment_id: deployment.id,
        secrets: plan.secrets.clone(),
        cap: config.log_cap,
        written: 0,
        truncated: false,
        pending: Vec::new(),
        last_flush: Instant::now(),
    };
    let names: Vec<(String, StepKind)> = plan
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.kind))
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
            StepKind::Script => run_script(&plan, step, position, &mut log, cancel, shutdown),
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
    Ran {
        outcome,
        log: std::mem::take(&mut log.pending),
        steps: !names.is_empty(),
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

/// Stops a script and everything it started: its whole process group.
#[allow(unsafe_code)]
fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

fn run_script(
    plan: &Plan,
    step: &Step,
    position: i32,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<String, StepFailure> {
    let workdir = std::env::temp_dir().join(format!(
        "stagecoach-{}-{}-{}",
        plan.deployment_id,
        position,
        crate::crypto::random::token_hex(4)
    ));
    std::fs::create_dir_all(&workdir)
        .map_err(|e| StepFailure::Failed(format!("could not create a working directory: {e}")))?;
    let script = workdir.join("step.sh");
    std::fs::write(&script, &step.script)
        .map_err(|e| StepFailure::Failed(format!("could not write the script: {e}")))?;
    let result = run_in(
        plan, step, position, log, cancel, shutdown, &workdir, &script,
    );
    let _ = std::fs::remove_dir_all(&workdir);
    result
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    plan: &Plan,
    step: &Step,
    position: i32,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
    workdir: &std::path::Path,
    script: &std::path::Path,
) -> Result<String, StepFailure> {
    let mut child = Command::new("bash")
        .arg(script)
        .current_dir(workdir)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", workdir)
        .env("LANG", "C.UTF-8")
        .envs(plan.script_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| StepFailure::Failed(format!("could not start bash: {e}")))?;
    let (tx, rx) = mpsc::channel::<(&'static str, String)>();
    let readers: Vec<_> = [
        (
            "stdout",
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
        (
            "stderr",
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
    ]
    .into_iter()
    .filter_map(|(stream, pipe)| pipe.map(|p| (stream, p)))
    .map(|(stream, pipe)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let _ = tx.send((stream, String::from_utf8_lossy(&buf).into_owned()));
                buf.clear();
            }
        })
    })
    .collect();
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(step.timeout_seconds.max(1) as u64);
    let mut stopped: Option<Result<String, StepFailure>> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((stream, line)) => log.push(Some(position), stream, &line),
            Err(mpsc::RecvTimeoutError::Timeout) => log.flush(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stopped.is_none() {
            if let Some(reason) = stop_reason(cancel, shutdown) {
                kill_group(&mut child);
                stopped = Some(Err(StepFailure::Stopped(reason)));
            } else if Instant::now() >= deadline {
                kill_group(&mut child);
                stopped = Some(Err(StepFailure::Failed(format!(
                    "timed out after {} s",
                    step.timeout_seconds
                ))));
            }
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child
        .wait()
        .map_err(|e| StepFailure::Failed(format!("waiting for the script: {e}")))?;
    if let Some(result) = stopped {
        return result;
    }
    match status.code() {
        Some(0) => Ok("exit code 0".to_owned()),
        Some(code) => Err(StepFailure::Failed(format!("exit code {code}"))),
        None => Err(StepFailure::Failed("killed by a signal".to_owned())),
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
