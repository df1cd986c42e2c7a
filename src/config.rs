//! Typed settings, built once from the command line and environment.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

/// Everything the web application needs to start.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub secret_key: String,
    pub admin_password: Option<String>,
    pub secure_cookies: bool,
    pub session: SessionSettings,
    pub db_pool_size: u32,
    pub demo: bool,
    /// actix worker threads; `None` lets actix choose (one per core).
    pub http_workers: Option<usize>,
    /// Deployment workers run inside this process (0: none).
    pub deployment_workers: usize,
    /// Page reads kept while the database is unchanged
    /// (`routes::read_cache`); 0 turns the cache off.
    pub read_cache_entries: usize,
    pub worker: crate::worker::WorkerConfig,
    /// The public URL and trusted proxies: what counts as this site, and
    /// whose forwarding headers are believed.
    pub site: crate::auth::site::Site,
}

impl std::fmt::Debug for Settings {
    // Keeps the secret key and admin password out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("secure_cookies", &self.secure_cookies)
            .field("session", &self.session)
            .field("db_pool_size", &self.db_pool_size)
            .field("demo", &self.demo)
            .field("site", &self.site)
            .field("webhook_policy", &self.worker.webhook_policy)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// A session with no request for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after it began, however active.
    pub absolute_timeout: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
        }
    }
}

pub const MIN_SECRET_KEY_LEN: usize = 32;

/// The configured key, or the one kept in the data directory.
pub fn resolve_secret_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<String> {
    let key = match configured {
        Some(key) => key.to_owned(),
        None => load_or_create_secret_key(data_dir)?,
    };
    if key.len() < MIN_SECRET_KEY_LEN {
        bail!("STAGECOACH_SECRET_KEY must be at least {MIN_SECRET_KEY_LEN} characters");
    }
    Ok(key)
}

/// Reads the key kept in the data directory, creating it (mode 0600) on first run.
fn load_or_create_secret_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("secret_key");
    match std::fs::read_to_string(&path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(data_dir)?;
    let key = crate::crypto::random::token_hex(64);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{key}")?;
    Ok(key)
}
