//! Builds the application: pool, migrations, first admin, session store,
//! middleware and routes; binds the listener (port 0 in tests).

use std::net::TcpListener;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::auth::app_cookie::AppCookies;
use crate::auth::session_store::PgSessionStore;
use crate::auth::{flash, login_csrf};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::domain::bootstrap::{self, AdminBootstrap};
use crate::input::{extract, limits};
use crate::middleware::requests;
use crate::middleware::security_headers::HeaderPolicy;
use crate::routes;

/// How often expired sessions are swept from the table.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(300);

pub struct Application {
    port: u16,
    address: String,
    server: Server,
    workers: Option<tokio::sync::watch::Sender<bool>>,
    /// Holds API long polls; told first when the server is asked to stop.
    changes: std::sync::Arc<crate::routes::api::changes::DeploymentChanges>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::build_pool(&settings.database_url, settings.db_pool_size)?;
        prepare_database(&pool, &settings).await?;
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let local = listener.local_addr()?;
        let workers = (settings.deployment_workers > 0).then(|| {
            let mut worker = settings.worker.clone();
            worker.listen_url = Some(settings.database_url.clone());
            crate::worker::spawn(&pool, &worker, settings.deployment_workers)
        });
        let changes = crate::routes::api::changes::DeploymentChanges::start(pool.clone());
        let server = run(listener, pool, settings, changes.clone())?;
        Ok(Self {
            port: local.port(),
            address: local.to_string(),
            server,
            workers,
            changes,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Serves until SIGINT/SIGTERM: actix stops accepting, finishes in-flight
    /// requests (up to its shutdown timeout), then returns. API long polls
    /// are answered at once with where their deployment stands, rather than
    /// holding the stop for up to a minute.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let changes = self.changes.clone();
        let answering = tokio::spawn(async move {
            shutdown_signal().await;
            changes.stop();
        });
        let result = self.server.await;
        answering.abort();
        if let Some(workers) = self.workers {
            let _ = workers.send(true);
            workers.closed().await;
        }
        result
    }
}

/// Migrations, the first admin and (when asked) demo data, before serving.
async fn prepare_database(pool: &DbPool, settings: &Settings) -> anyhow::Result<()> {
    let admin_password = settings.admin_password.clone();
    let demo = settings.demo;
    let bootstrap = db::run(pool, move |conn| -> anyhow::Result<AdminBootstrap> {
        db::migrations::run(conn)?;
        let bootstrap = bootstrap::ensure_admin(conn, admin_password.as_deref())?;
        if demo && crate::domain::demo::seed(conn)? {
            tracing::info!("demo project created");
        }
        Ok(bootstrap)
    })
    .await
    .map_err(|err| anyhow::anyhow!("preparing the database: {err:#}"))?;
    match bootstrap {
        AdminBootstrap::CreatedWithPassword(password) => {
            println!();
            println!("  First start: created the administrator account.");
            println!("    username: admin");
            println!("    password: {password}");
            println!("  This password is shown only once. Change it after signing in.");
            println!();
        }
        AdminBootstrap::Created => {
            tracing::info!("created user admin with STAGECOACH_ADMIN_PASSWORD");
        }
        AdminBootstrap::Existing => {}
    }
    Ok(())
}

/// SIGTERM or SIGINT: what asks a process to stop.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn run(
    listener: TcpListener,
    pool: DbPool,
    settings: Settings,
    changes: std::sync::Arc<crate::routes::api::changes::DeploymentChanges>,
) -> anyhow::Result<Server> {
    let key = Key::derive_from(settings.secret_key.as_bytes());
    let store = PgSessionStore::new(pool.clone(), settings.session.absolute_timeout);
    let idle = actix_web::cookie::time::Duration::seconds(
        i64::try_from(settings.session.idle_timeout.as_secs()).unwrap_or(i64::MAX),
    );
    let secure = settings.secure_cookies;
    // `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
    let cookie_name = if secure {
        "__Host-stagecoach"
    } else {
        "stagecoach"
    };

    let secrets = web::Data::new(settings.worker.secrets.clone());
    let site = web::Data::new(settings.site.clone());
    let app_cookies = web::Data::new(AppCookies::new(key.clone(), secure));
    let changes = web::Data::from(changes);
    let read_cache =
        crate::routes::read_cache::ReadCache::new(settings.read_cache_entries).map(web::Data::new);
    spawn_session_sweeper(pool.clone());
    let pool = web::Data::new(pool);
    let mut server = HttpServer::new(move || {
        let sessions = web::scope("")
            .wrap(
                SessionMiddleware::builder(store.clone(), key.clone())
                    .cookie_name(cookie_name.to_owned())
                    .cookie_secure(secure)
                    .cookie_http_only(true)
                    .cookie_same_site(SameSite::Lax)
                    .cookie_path("/".to_owned())
                    .cookie_domain(None)
                    .cookie_content_security(CookieContentSecurity::Signed)
                    .session_lifecycle(
                        BrowserSession::default()
                            .state_ttl(idle)
                            // The store writes only when the stored expiry
                            // is a minute behind (see `ttl_slack`).
                            .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
                    )
                    .build(),
            )
            .configure(routes::configure)
            .default_service(web::to(routes::not_found));
        let mut app = App::new();
        if let Some(read_cache) = &read_cache {
            app = app.app_data(read_cache.clone());
        }
        app.wrap(from_fn(login_csrf::send_cookie))
            .wrap(from_fn(flash::send_cookie))
            .wrap(from_fn(requests::handle))
            .app_data(web::Data::new(HeaderPolicy { secure }))
            .app_data(secrets.clone())
            .app_data(site.clone())
            .app_data(app_cookies.clone())
            .app_data(changes.clone())
            .app_data(pool.clone())
            // Routes with longer fields set their own PayloadConfig.
            .app_data(web::PayloadConfig::new(limits::FORM))
            .app_data(extract::form_config())
            .app_data(extract::json_config())
            .app_data(extract::path_config())
            .app_data(extract::query_config())
            .configure(routes::configure_sessionless)
            .service(sessions)
    })
    .shutdown_timeout(30)
    .listen(listener)?;
    if let Some(workers) = settings.http_workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

fn spawn_session_sweeper(pool: DbPool) {
    tokio::spawn(async move {
        // The first sweep after one period, not at start: a fresh server
        // has requests to answer first (and tests count their statements).
        let mut interval = tokio::time::interval_at(
            tokio::time::Instant::now() + SESSION_SWEEP_EVERY,
            SESSION_SWEEP_EVERY,
        );
        loop {
            interval.tick().await;
            match db::run(&pool, crate::domain::sessions::sweep_expired).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("swept {n} expired sessions"),
                Err(err) => tracing::warn!("sweeping sessions: {err}"),
            }
            // Webhook deliveries that finished a month ago.
            match db::run(&pool, crate::domain::webhooks::sweep).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("swept {n} webhook deliveries"),
                Err(err) => tracing::warn!("sweeping webhook deliveries: {err}"),
            }
            // API idempotency keys past the day they are kept.
            match db::run(&pool, crate::domain::idempotency::sweep).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("swept {n} idempotency keys"),
                Err(err) => tracing::warn!("sweeping idempotency keys: {err}"),
            }
        }
    });
}
