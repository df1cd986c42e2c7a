//! Running a script step: its own working directory and process group,
//! output into the log, stopped as a whole on cancel, timeout or shutdown,
//! and when the worker itself dies.

use super::*;

/// What runs a script: a bash that starts it in the background, in the
/// step's process group, and kills that whole group when the worker dies.
///
/// A worker killed outright (SIGKILL, the OOM killer) cannot stop its
/// scripts itself, and a parent-death signal reaches only the direct child:
/// without this, what the script started would run on, orphaned, while the
/// lease fails the deployment as "worker lost" and someone deploys it
/// again. The kernel sends this bash SIGUSR1 when the worker's thread that
/// started it ends (see `pre_exec` below); that thread waits for the script
/// to the end, so only the worker's death ends it first.
///
/// A script killed by a signal takes its supervisor with it by the same
/// signal, so the step still reads "killed by a signal".
const SUPERVISOR: &str = r#"trap 'kill -KILL 0' USR1
bash "$1" &
wait $!
status=$?
if [ "$status" -gt 128 ]; then
    trap - USR1
    kill -n "$((status - 128))" $$
fi
exit "$status""#;

/// Asks the kernel to send the supervisor SIGUSR1 when the spawning thread
/// ends, and refuses to start if the worker is already gone.
#[allow(unsafe_code)]
fn die_with_worker(command: &mut Command) {
    let worker = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls
    // only prctl(2) and getppid(2), which are async-signal-safe, and
    // builds its error from a raw OS code without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR1) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The worker died between fork and prctl: nothing would
            // signal the supervisor, so do not start.
            if libc::getppid() != worker {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
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

pub(super) fn run_script(
    plan: &Plan,
    step: &Step,
    position: Option<i32>,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<String, StepFailure> {
    let workdir = std::env::temp_dir().join(format!(
        "stagecoach-{}-{}-{}",
        plan.deployment_id,
        position.map_or_else(|| "check".to_owned(), |p| p.to_string()),
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

#[allow(
    clippy::too_many_arguments,
    reason = "the step, its place, its log and the two ways it may be stopped"
)]
fn run_in(
    plan: &Plan,
    step: &Step,
    position: Option<i32>,
    log: &mut LogSink,
    cancel: &AtomicBool,
    shutdown: &AtomicBool,
    workdir: &std::path::Path,
    script: &std::path::Path,
) -> Result<String, StepFailure> {
    let mut command = Command::new("bash");
    die_with_worker(&mut command);
    let mut child = command
        .arg("-c")
        .arg(SUPERVISOR)
        .arg("stagecoach-step")
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
            Ok((stream, line)) => log.push(position, stream, &line),
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
