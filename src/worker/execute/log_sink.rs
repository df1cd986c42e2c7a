//! The deployment's log as a step writes it.

use super::*;

/// Collects log lines, masks secrets, enforces the cap, and writes them in
/// batches so a chatty script costs few round trips.
pub(super) struct LogSink {
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
    /// An empty log for `deployment_id` that masks `secrets` and keeps at
    /// most `cap` bytes.
    pub(super) fn new(
        pool: DbPool,
        deployment_id: DeploymentId,
        secrets: Vec<String>,
        cap: u64,
    ) -> Self {
        Self {
            pool,
            deployment_id,
            secrets,
            cap,
            written: 0,
            truncated: false,
            pending: Vec::new(),
            last_flush: Instant::now(),
        }
    }

    /// The lines not yet written, taken out (for the outcome's own write).
    pub(super) fn take_pending(&mut self) -> Vec<(Option<i32>, &'static str, String)> {
        std::mem::take(&mut self.pending)
    }

    pub(super) fn push(&mut self, step: Option<i32>, stream: &'static str, line: &str) {
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

    pub(super) fn system(&mut self, step: Option<i32>, line: &str) {
        self.push(step, "system", line);
    }

    pub(super) fn flush(&mut self) {
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
