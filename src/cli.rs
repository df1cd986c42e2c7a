//! Command line: `serve`, `migrate` and `demo`. Every setting is an
//! environment variable and a flag (see the README's configuration table).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::db::{self, local_pg::LocalPostgres};
use crate::domain;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "stagecoach",
    version,
    about = "Release management: promote releases environment by environment"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the web server (applies migrations first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Fill an empty database with a sample project and releases, then exit.
    Demo(DatabaseArgs),
    /// Run deployment workers only (no web server) until SIGTERM.
    Worker(WorkerArgs),
    /// Talk to a Stagecoach server's API, as a CI job does.
    Client(crate::client::ClientArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Number of deployment workers in this process.
    #[arg(long, env = "STAGECOACH_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Key for stored secrets; must match the server's (see `serve`).
    #[arg(long, env = "STAGECOACH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Seconds a worker's claim on a deployment lasts without renewal.
    #[arg(long, env = "STAGECOACH_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u32,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// The site's public URL, for links in event webhooks.
    #[arg(long, env = "STAGECOACH_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// Which addresses webhook steps may reach; shared by `serve` and `worker`.
#[derive(Debug, Clone, Default, Args)]
pub struct WebhookArgs {
    /// Address ranges webhook steps may connect to even though they are internal (comma-separated CIDRs, e.g. 10.1.2.0/24).
    #[arg(long, env = "STAGECOACH_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,
    /// Address ranges webhook steps may not connect to, besides the built-in internal ones (comma-separated CIDRs).
    #[arg(long, env = "STAGECOACH_WEBHOOK_DENY", default_value = "")]
    pub webhook_deny: String,
    /// Seconds an event webhook's receiver has to answer before the delivery counts as failed (and is retried).
    #[arg(
        long,
        env = "STAGECOACH_DELIVERY_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub delivery_timeout_seconds: u32,
}

impl WebhookArgs {
    /// Sets what these arguments say on a worker's configuration.
    pub fn apply(&self, config: &mut crate::worker::WorkerConfig) -> anyhow::Result<()> {
        config.webhook_policy = crate::worker::address_policy::AddressPolicy::parse(
            &self.webhook_allow,
            &self.webhook_deny,
        )
        .context("STAGECOACH_WEBHOOK_ALLOW / STAGECOACH_WEBHOOK_DENY")?;
        config.delivery_timeout =
            Duration::from_secs(u64::from(self.delivery_timeout_seconds.max(1)));
        Ok(())
    }
}

/// Where the database is; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. When unset, a private PostgreSQL is started in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the private PostgreSQL, the generated secret key and other state.
    #[arg(long, env = "STAGECOACH_DATA_DIR", default_value = "./.stagecoach")]
    pub data_dir: PathBuf,
    /// Largest number of pooled database connections.
    #[arg(long, env = "STAGECOACH_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address and port to listen on.
    #[arg(long, env = "STAGECOACH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Key for cookies and stored secrets (at least 32 characters). Generated and kept in the data directory when unset.
    #[arg(long, env = "STAGECOACH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Password for the `admin` user created on a start with no users. Random (and printed once) when unset.
    #[arg(long, env = "STAGECOACH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Serve over HTTPS only: `Secure` cookies with the `__Host-` prefix, and HSTS.
    #[arg(long, env = "STAGECOACH_SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,
    /// Minutes without a request after which a session ends.
    #[arg(long, env = "STAGECOACH_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u32,
    /// Hours after sign-in after which a session ends whatever its activity.
    #[arg(long, env = "STAGECOACH_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: u32,
    /// Seconds a worker's claim on a deployment lasts without renewal; a
    /// deployment whose worker died is failed once it expires.
    #[arg(long, env = "STAGECOACH_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u32,
    /// Number of deployment workers inside the server process.
    #[arg(long, env = "STAGECOACH_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Run no deployment workers in this process (run `stagecoach worker` elsewhere).
    #[arg(long, default_value_t = false)]
    pub no_worker: bool,
    /// The address users reach Stagecoach at (e.g. https://deploy.example.com); forms must come from it. Unset: the host each request was sent to.
    #[arg(long, env = "STAGECOACH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Proxies whose forwarding headers (Forwarded, X-Forwarded-Host, X-Forwarded-For) are believed: comma-separated addresses or CIDRs. Unset: none.
    #[arg(long, env = "STAGECOACH_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Page reads kept in memory and served again while the database has not changed since (0: none).
    #[arg(long, env = "STAGECOACH_READ_CACHE_ENTRIES", default_value_t = 256)]
    pub read_cache_entries: usize,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Fill an empty database with a sample project before serving.
    #[arg(long, env = "STAGECOACH_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
}

/// Runs the chosen command to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Worker(args) => work(args),
        Command::Client(args) => crate::client::run(args),
        Command::Migrate(args) => {
            let (url, local) = resolve_database(&args)?;
            let result = db::migrations::run_on_url(&url);
            stop_local(local);
            result?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo(args) => {
            let (url, local) = resolve_database(&args)?;
            let result = (|| -> anyhow::Result<bool> {
                db::migrations::run_on_url(&url)?;
                let pool = db::build_pool(&url, 2)?;
                let mut conn = pool.get()?;
                // The sample history names the person who asked for each
                // deployment: the administrator, created here if needed.
                let password = std::env::var("STAGECOACH_ADMIN_PASSWORD").ok();
                let bootstrap = domain::bootstrap::ensure_admin(&mut conn, password.as_deref())?;
                if let domain::bootstrap::AdminBootstrap::CreatedWithPassword(password) = bootstrap
                {
                    println!("created user admin with password {password} (shown only once)");
                }
                Ok(domain::demo::seed(&mut conn)?)
            })();
            stop_local(local);
            if result? {
                println!("demo project created");
            } else {
                println!("database already has projects; demo data not added");
            }
            Ok(())
        }
    }
}

/// The server's settings from its command line.
fn settings(args: &ServeArgs, database_url: String) -> anyhow::Result<Settings> {
    let secret_key =
        crate::config::resolve_secret_key(args.secret_key.as_deref(), &args.database.data_dir)?;
    let mut worker = crate::worker::WorkerConfig::new(&secret_key);
    worker.lease = Duration::from_secs(u64::from(args.lease_seconds.max(1)));
    args.webhooks.apply(&mut worker)?;
    worker.public_url = args.public_url.clone().filter(|u| !u.trim().is_empty());
    let site = crate::auth::site::Site::new(args.public_url.as_deref(), &args.trusted_proxies)?;
    if args.session_idle_minutes == 0 || args.session_absolute_hours == 0 {
        anyhow::bail!("session timeouts must be positive");
    }
    Ok(Settings {
        database_url,
        bind: args.bind.clone(),
        secret_key,
        admin_password: args.admin_password.clone().filter(|p| !p.is_empty()),
        secure_cookies: args.secure_cookies,
        session: crate::config::SessionSettings {
            idle_timeout: Duration::from_secs(u64::from(args.session_idle_minutes) * 60),
            absolute_timeout: Duration::from_secs(u64::from(args.session_absolute_hours) * 3600),
        },
        db_pool_size: args.database.db_pool_size.max(1),
        demo: args.demo,
        http_workers: None,
        deployment_workers: if args.no_worker { 0 } else { args.workers },
        read_cache_entries: args.read_cache_entries,
        worker,
        site,
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (database_url, local) = resolve_database(&args.database)?;
    let settings = settings(&args, database_url)?;
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        tracing::info!("Stagecoach listening on http://{}", app.address());
        app.run_until_stopped().await.context("running the server")
    });
    stop_local(local);
    result
}

fn work(args: WorkerArgs) -> anyhow::Result<()> {
    let secret_key =
        crate::config::resolve_secret_key(args.secret_key.as_deref(), &args.database.data_dir)?;
    let (database_url, local) = resolve_database(&args.database)?;
    let result = actix_web::rt::System::new().block_on(async move {
        db::migrations::run_on_url(&database_url)?;
        let pool = db::build_pool(&database_url, args.database.db_pool_size)?;
        let mut config = crate::worker::WorkerConfig::new(&secret_key);
        config.lease = std::time::Duration::from_secs(u64::from(args.lease_seconds.max(1)));
        args.webhooks.apply(&mut config)?;
        config.listen_url = Some(database_url.clone());
        config.public_url = args.public_url.clone().filter(|u| !u.trim().is_empty());
        let stop = crate::worker::spawn(&pool, &config, args.workers.max(1));
        crate::startup::shutdown_signal().await;
        tracing::info!("stopping workers");
        let _ = stop.send(true);
        stop.closed().await;
        anyhow::Ok(())
    });
    stop_local(local);
    result
}

/// Uses `DATABASE_URL` when given, otherwise starts (or reuses) the private cluster.
fn resolve_database(args: &DatabaseArgs) -> anyhow::Result<(String, Option<LocalPostgres>)> {
    if let Some(url) = args
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok((url.to_owned(), None));
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let local =
        LocalPostgres::start(&args.data_dir, false).context("starting the private PostgreSQL")?;
    local.create_database("stagecoach")?;
    let url = local.database_url("stagecoach");
    Ok((url, Some(local)))
}

fn stop_local(local: Option<LocalPostgres>) {
    if let Some(Err(err)) = local.map(LocalPostgres::stop) {
        tracing::warn!("stopping the private PostgreSQL: {err:#}");
    }
}
