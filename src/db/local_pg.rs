//! A private PostgreSQL cluster kept in the data directory, for when no
//! `DATABASE_URL` is given. It listens on a Unix socket inside its own
//! directory only (no TCP port to clash with), is initialised on first use,
//! reused when already running, and stopped by whoever started it.
//!
//! PostgreSQL refuses to run as root, so as root every server command runs
//! as the `postgres` system user, who owns the cluster directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Name of the cluster's directory inside the data directory.
const CLUSTER_DIR: &str = "postgres";
/// A Unix socket path must fit in `sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
const SERVER_USER: &str = "postgres";

#[derive(Debug)]
pub struct LocalPostgres {
    cluster_dir: PathBuf,
    bin_dir: PathBuf,
    started_here: bool,
}

impl LocalPostgres {
    /// Starts the cluster under `data_dir` (initialising it first if needed),
    /// or attaches to it when it is already running. `ephemeral` trades
    /// durability for speed (fsync off): for test clusters only.
    pub fn start(data_dir: &Path, ephemeral: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let cluster_dir = data_dir.join(CLUSTER_DIR);
        let socket = cluster_dir.join(".s.PGSQL.5432");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            bail!(
                "the data directory path is too long for a Unix socket ({}); choose a shorter STAGECOACH_DATA_DIR",
                socket.display()
            );
        }
        let bin_dir = find_bin_dir()?;
        // Several processes (parallel test binaries, two `serve`s) may start
        // the same cluster at once: one at a time.
        let lock = File::create(data_dir.join("postgres.lock"))?;
        lock.lock().context("locking the private PostgreSQL")?;

        let this = Self {
            cluster_dir,
            bin_dir,
            started_here: false,
        };
        if !this.cluster_dir.join("PG_VERSION").exists() {
            this.init(&data_dir, ephemeral)?;
        }
        if this.is_running()? {
            return Ok(this);
        }
        this.pg_ctl_start(&data_dir)?;
        Ok(Self {
            started_here: true,
            ..this
        })
    }

    /// A libpq URL for `database` over the cluster's socket.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{SERVER_USER}@/{database}?host={}",
            percent_encode(&self.cluster_dir.to_string_lossy())
        )
    }

    pub fn create_database(&self, name: &str) -> anyhow::Result<()> {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let mut conn = PgConnection::establish(&self.database_url("postgres"))
            .context("connecting to the private PostgreSQL")?;
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{}')",
            name.replace('\'', "''")
        )))
        .get_result(&mut conn)?;
        if !exists {
            diesel::sql_query(format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")))
                .execute(&mut conn)?;
        }
        Ok(())
    }

    /// Stops the cluster if this process started it.
    pub fn stop(self) -> anyhow::Result<()> {
        if !self.started_here {
            return Ok(());
        }
        self.force_stop()
    }

    /// Stops the cluster whoever started it.
    pub fn force_stop(&self) -> anyhow::Result<()> {
        let status = self
            .server_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-s"])
            .status()?;
        if !status.success() {
            bail!("pg_ctl stop exited with {status}");
        }
        Ok(())
    }

    fn init(&self, data_dir: &Path, ephemeral: bool) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.cluster_dir)?;
        if running_as_root() {
            // The server user must reach its directory and own it.
            set_mode(data_dir, 0o711)?;
            let reachable = Command::new("runuser")
                .args(["-u", SERVER_USER, "--", "test", "-x"])
                .arg(data_dir)
                .status()
                .is_ok_and(|s| s.success());
            if !reachable {
                bail!(
                    "the {SERVER_USER} user cannot reach {}: choose a STAGECOACH_DATA_DIR whose parent directories others may enter (e.g. under /var/lib or /tmp), or run `chmod o+x` on them",
                    data_dir.display()
                );
            }
            let status = Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&self.cluster_dir)
                .status()
                .context("running chown (is there a `postgres` system user? install Debian's `postgresql` package)")?;
            if !status.success() {
                bail!(
                    "could not give {} to the {SERVER_USER} user",
                    self.cluster_dir.display()
                );
            }
        }
        set_mode(&self.cluster_dir, 0o700)?;
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args([
                "-U",
                SERVER_USER,
                "--auth-local=trust",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut conf = String::from(
            "\n# Stagecoach's private cluster: Unix socket only.\nlisten_addresses = ''\nmax_connections = 300\n",
        );
        if ephemeral {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
            // Test clusters count the statements each request runs (see the
            // tests' `statements_during`). Only when the module is installed:
            // a preload that is missing would stop the server from starting.
            if self.has_library("pg_stat_statements") {
                conf.push_str(
                    "shared_preload_libraries = 'pg_stat_statements'\n\
                     pg_stat_statements.track = top\n\
                     pg_stat_statements.max = 10000\n",
                );
            }
        }
        let conf_path = self.cluster_dir.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path)?;
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)?;
        Ok(())
    }

    /// Whether the server has the loadable module `name` (Debian installs
    /// modules in `../lib` beside `bin`).
    fn has_library(&self, name: &str) -> bool {
        let beside_bin = self.bin_dir.join("../lib").join(format!("{name}.so"));
        if beside_bin.exists() {
            return true;
        }
        Command::new(self.bin_dir.join("pg_config"))
            .arg("--pkglibdir")
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .is_some_and(|dir| Path::new(&dir).join(format!("{name}.so")).exists())
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .server_command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("running pg_ctl status")?;
        Ok(status.success())
    }

    fn pg_ctl_start(&self, data_dir: &Path) -> anyhow::Result<()> {
        let log = self.cluster_dir.join("server.log");
        // The socket directory is passed at each start, not written into
        // the configuration, so a moved data directory still works.
        let options = format!("-k '{}'", self.cluster_dir.display());
        let output = self
            .server_command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s", "-o", &options])
            .output()
            .context("running pg_ctl start")?;
        if !output.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = server_log.lines().rev().take(15).collect();
            bail!(
                "PostgreSQL did not start in {}: {}\n{}",
                data_dir.display(),
                String::from_utf8_lossy(&output.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// A command for a server binary, run as the server user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", SERVER_USER, "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }
}

#[allow(unsafe_code)]
fn running_as_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments, has no preconditions and always succeeds.
    unsafe { libc::geteuid() == 0 }
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Finds PostgreSQL's server binaries: `PG_BIN_DIR`, then the newest
/// Debian-style `/usr/lib/postgresql/N/bin`, then `pg_config --bindir`.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries not found: install Debian's `postgresql` package or set PG_BIN_DIR"
    )
}

/// Percent-encodes a socket path for a libpq URL's `host` parameter.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn socket_paths_are_percent_encoded_for_libpq() {
        assert_eq!(percent_encode("/tmp/a b/pg"), "/tmp/a%20b/pg");
        assert_eq!(percent_encode("/x/y&z"), "/x/y%26z");
    }
}
