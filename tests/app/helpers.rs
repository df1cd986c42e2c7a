//! `spawn_app()`: a database cloned from a migrated template, the app on a
//! random port, and a cookie-keeping HTTP client that does not follow
//! redirects. The database is dropped when the `TestApp` is.
//!
//! Without `DATABASE_URL`, a private PostgreSQL cluster is started under
//! `target/tmp` (shared by every test process, left running for the next
//! run; `scripts/test.sh` stops it).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use sha2::{Digest, Sha256};
use stagecoach::config::{SessionSettings, Settings};
use stagecoach::db::local_pg::LocalPostgres;
use stagecoach::db::{self, DbPool};
use stagecoach::domain::audit::Actor;
use stagecoach::domain::ids::DeploymentId;
use stagecoach::domain::{deployments, users};
use stagecoach::startup::Application;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// The key for cookies and secrets in every test app.
pub const TEST_SECRET_KEY: &str = "test-secret-key-test-secret-key-0123456789";

/// URL of the maintenance database on the test server, with `{db}` where
/// a database name goes.
struct Server {
    url_template: String,
}

impl Server {
    fn url(&self, database: &str) -> String {
        self.url_template.replace("{db}", database)
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            // Swap the database name in the given URL for `{db}`.
            let (base, query) = url
                .split_once('?')
                .map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
            let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
            let template = match query {
                Some(q) => format!("{prefix}/{{db}}?{q}"),
                None => format!("{prefix}/{{db}}"),
            };
            return Server {
                url_template: template,
            };
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pg");
        let local = LocalPostgres::start(&dir, true).expect("starting the test PostgreSQL");
        let url_template = local.database_url("{db}").replace("%7Bdb%7D", "{db}");
        Server { url_template }
    })
}

fn admin_connection() -> PgConnection {
    PgConnection::establish(&server().url("postgres")).expect("connecting to the test server")
}

/// The migrated template's name changes with the migrations' content, so a
/// changed migration never reuses a stale template.
fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut files: Vec<PathBuf> =
            walk(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations"));
        files.sort();
        let mut hasher = Sha256::new();
        for file in files {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&file).expect("reading a migration"));
        }
        let name = format!("stagecoach_tpl_{}", &hex::encode(hasher.finalize())[..12]);
        ensure_template(&name);
        name
    })
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("reading migrations")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn ensure_template(name: &str) {
    let mut conn = admin_connection();
    // Test binaries may race to build it: one at a time.
    diesel::sql_query("SELECT pg_advisory_lock(4242)")
        .execute(&mut conn)
        .expect("template lock");
    if !database_exists(&mut conn, name) {
        let building = format!("{name}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{building}\""))
            .execute(&mut conn)
            .expect("drop");
        diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
            .execute(&mut conn)
            .expect("create template");
        stagecoach::db::migrations::run_on_url(&server().url(&building))
            .expect("migrating the template");
        diesel::sql_query(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        ))
        .execute(&mut conn)
        .expect("rename template");
    }
    diesel::sql_query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut conn)
        .expect("template unlock");
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
    )))
    .get_result(conn)
    .expect("checking for a database")
}

/// A fresh database for one test, dropped with it.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        let template = template_name();
        let name = format!("test_{}", stagecoach::crypto::random::token_hex(8));
        let mut conn = admin_connection();
        diesel::sql_query(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))
        .execute(&mut conn)
        .expect("cloning the template");
        let url = server().url(&name);
        Self { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connecting to the test database")
    }

    /// This database's URL, logging in as `role` with `password`.
    pub fn url_as(&self, role: &str, password: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("a URL with a scheme");
        let after_user = rest.split_once('@').map_or(rest, |(_, after)| after);
        format!("{scheme}://{role}:{password}@{after_user}")
    }
}

/// Runs `sql` on the test server's maintenance database (roles are the
/// server's, not one database's).
pub fn on_server(sql: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(sql).execute(&mut admin_connection())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut conn = admin_connection();
        // Its statement counts go with it, so the cluster-wide table keeps
        // room for the databases of the tests still running.
        if statement_counting_available() {
            let _ = diesel::sql_query(
                "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = $1",
            )
            .bind::<diesel::sql_types::Text, _>(&self.name)
            .execute(&mut conn);
        }
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn);
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: DbPool,
    /// Deployment workers running in the app (they query in the background).
    pub deployment_workers: usize,
    // Held for its `Drop`, and dropped last: the database outlives the pool.
    _db: TestDb,
}

/// Settings for a test app on `database_url`.
pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        bind: "127.0.0.1:0".to_owned(),
        secret_key: TEST_SECRET_KEY.to_owned(),
        admin_password: Some(ADMIN_PASSWORD.to_owned()),
        secure_cookies: false,
        session: SessionSettings::default(),
        db_pool_size: 4,
        demo: false,
        http_workers: Some(1),
        deployment_workers: 1,
        read_cache_entries: 256,
        worker: stagecoach::worker::WorkerConfig {
            poll_interval: Duration::from_millis(50),
            lease: Duration::from_secs(10),
            log_cap: 10 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
            secrets: stagecoach::domain::secrets::SecretBox::from_secret_key(TEST_SECRET_KEY),
            // Webhook tests post to servers on loopback, which the default
            // policy refuses: allow it explicitly, as an admin would.
            webhook_policy: stagecoach::worker::address_policy::AddressPolicy::parse(
                "127.0.0.0/8,::1",
                "",
            )
            .expect("loopback ranges"),
            delivery_timeout: Duration::from_secs(10),
            // The app sets its own database (startup listens on it).
            listen_url: None,
            public_url: Some("https://stagecoach.test".to_owned()),
            clock: stagecoach::worker::clock::Clock::Real,
        },
        site: Default::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `configure` has adjusted its settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    stagecoach::telemetry::init();
    let db = TestDb::new();
    let mut settings = test_settings(&db.url);
    configure(&mut settings);
    let settings_workers = settings.deployment_workers;
    let app = Application::build(settings)
        .await
        .expect("building the app");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: new_client(),
        pool: db::build_pool(&db.url, 2).expect("test pool"),
        deployment_workers: settings_workers,
        _db: db,
    };
    let admin = users::find_by_username(&mut app.conn(), "admin")
        .expect("reading the admin")
        .expect("the first start created the admin");
    assert_eq!(
        admin.id,
        fixtures::ADMIN_ID,
        "fixtures::admin() names the admin"
    );
    app
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the HTTP client")
}

/// The value of the first hidden `csrf_token` field in `html`.
pub fn csrf_token_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a csrf_token field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// The CSRF token of the page at `path`, as `client` sees it.
    pub async fn csrf_token_with(&self, client: &reqwest::Client, path: &str) -> String {
        let html = self
            .get_with(client, path)
            .await
            .text()
            .await
            .expect("body");
        csrf_token_in(&html)
    }

    /// POSTs a form with the token of the page at `token_from`.
    pub async fn post_form(
        &self,
        path: &str,
        token_from: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.post_form_with(&self.client, path, token_from, fields)
            .await
    }

    pub async fn post_form_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        token_from: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf_token_with(client, token_from).await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_form_with(
            client,
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.login_with(&self.client, username, password).await
    }

    pub async fn login_admin(&self) {
        let response = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(
            response.status().as_u16(),
            303,
            "admin login should redirect"
        );
    }

    pub fn conn(&self) -> db::DbConn {
        self.pool.get().expect("test connection")
    }

    /// A connection of its own, outside the test pool: for racing threads,
    /// more of them than the pool holds.
    pub fn connect(&self) -> PgConnection {
        self._db.connect()
    }

    /// The next deployment that may start, claimed as a worker named
    /// [`WORKER`] claims it (a 30 s lease), or `None` when the rules hold
    /// every queued one back.
    pub fn claim(&self) -> Option<deployments::Deployment> {
        deployments::claim_next(&mut self.conn(), WORKER, Duration::from_secs(30))
            .expect("claiming the next deployment")
    }

    /// Ends deployment `id`, claimed with [`claim`](Self::claim), as a
    /// worker reports it.
    pub fn finish(&self, id: DeploymentId, outcome: &deployments::Outcome) {
        deployments::finish(&mut self.conn(), WORKER, id, outcome).expect("finishing a deployment");
    }

    /// Claims the next deployment and ends it as succeeded, as a worker
    /// with no steps would: the deployment, or a panic when none may start.
    pub fn succeed_next(&self) -> deployments::Deployment {
        let next = self.claim().expect("a deployment that may start");
        self.finish(next.id, &deployments::Outcome::Succeeded);
        next
    }

    /// Creates a user directly through the domain layer.
    pub fn create_user(&self, username: &str, password: &str, admin: bool) -> users::User {
        users::create(
            &mut self.conn(),
            &Actor::system(),
            username,
            username,
            password,
            admin,
        )
        .expect("creating a user")
    }

    /// Makes the test database read-only (or writable again) as a full
    /// disk or a standby would: the setting applies to new sessions, so the
    /// app's open connections are ended and its pool reconnects.
    pub fn set_read_only(&self, on: bool) {
        let mut conn = admin_connection();
        let name = &self._db.name;
        let setting = if on {
            format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on")
        } else {
            format!("ALTER DATABASE \"{name}\" RESET default_transaction_read_only")
        };
        diesel::sql_query(setting).execute(&mut conn).unwrap();
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
              WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Text, _>(name)
        .execute(&mut conn)
        .unwrap();
    }

    pub fn count(&self, sql: &str) -> i64 {
        count_on(&mut self.conn(), sql)
    }

    /// As [`count`](Self::count), on a connection of its own: for after
    /// [`set_read_only`](Self::set_read_only) ended the pooled ones.
    pub fn count_fresh(&self, sql: &str) -> i64 {
        count_on(&mut self._db.connect(), sql)
    }
}

/// The worker name [`TestApp::claim`] and [`TestApp::finish`] go by.
pub const WORKER: &str = "test";

/// A count query's `n` (`SELECT count(*) AS n …`) on `conn`.
pub fn count_on(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect("count query")
        .n
}

/// The session cookie's value in `response`, if it set one.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .cookies()
        .find(|c| c.name() == "stagecoach")
        .map(|c| c.value().to_owned())
}

/// Fixtures for the release tests, through the domain layer.
pub mod fixtures {
    use std::time::{Duration, Instant};

    use diesel::prelude::*;
    use stagecoach::db::schema::{deployments, grants};
    use stagecoach::domain::audit::Actor;
    use stagecoach::domain::environments::{self, Environment};
    use stagecoach::domain::projects::{self, Project, ProjectInput};
    use stagecoach::domain::releases::{self, Release, ReleaseInput};

    use super::TestApp;
    use stagecoach::domain::ids::{EnvironmentId, ReleaseId, UserId};

    /// A user as the domain sees them acting.
    pub fn person(user: &stagecoach::domain::users::User) -> Actor {
        Actor::user(user.id, user.username.clone(), user.is_admin, None)
    }

    /// Changes an environment's policy through the domain, keeping the rest.
    pub fn policy(
        app: &TestApp,
        env: &Environment,
        change: impl FnOnce(&mut environments::PolicyInput),
    ) -> Environment {
        let mut input = environments::PolicyInput::of(env);
        change(&mut input);
        environments::set_policy(&mut app.conn(), &admin(), env, &input).unwrap()
    }

    pub fn queue_policy_with(
        conn: &mut diesel::PgConnection,
        env: &Environment,
        max_running: &str,
        queue: &str,
    ) {
        let mut input = environments::PolicyInput::of(env);
        input.max_running = max_running.to_owned();
        input.queue_policy = queue.to_owned();
        environments::set_policy(conn, &admin(), env, &input).expect("setting the policy");
    }

    /// The administrator the app creates on its first start: the first
    /// user of every test database (`spawn_app` checks), so deployments
    /// it asks for name a real person, as the database requires.
    pub const ADMIN_ID: UserId = UserId(1);

    /// Sets a variable of `env` as the admin would.
    pub fn set_var(app: &TestApp, env: &Environment, name: &str, value: &str, secret: bool) {
        stagecoach::domain::variables::set(
            &mut app.conn(),
            &admin(),
            &stagecoach::domain::secrets::SecretBox::from_secret_key(super::TEST_SECRET_KEY),
            env,
            &stagecoach::domain::variables::VariableInput {
                name: name.into(),
                value: value.into(),
                secret,
            },
        )
        .unwrap();
    }

    /// Adds a script step to `env` as the admin would.
    pub fn add_script(
        app: &TestApp,
        env: &Environment,
        name: &str,
        script: &str,
        timeout: i32,
    ) -> stagecoach::domain::steps::Step {
        stagecoach::domain::steps::add(
            &mut app.conn(),
            &admin(),
            env,
            &stagecoach::domain::steps::StepInput {
                kind: "script".into(),
                name: name.into(),
                script: script.into(),
                url: String::new(),
                timeout_seconds: timeout.to_string(),
            },
        )
        .unwrap()
    }

    pub fn admin() -> Actor {
        Actor {
            user_id: Some(ADMIN_ID),
            name: "admin".to_owned(),
            is_admin: true,
            client_addr: None,
            scope: None,
            token_id: None,
        }
    }

    impl TestApp {
        pub fn project(&self, name: &str) -> (Project, Vec<Environment>) {
            let project = projects::create(
                &mut self.conn(),
                &admin(),
                &ProjectInput {
                    name: name.to_owned(),
                    ..Default::default()
                },
            )
            .expect("creating a project");
            let pipeline = environments::list(&mut self.conn(), project.id).unwrap();
            (project, pipeline)
        }

        pub fn release(&self, project: &Project, version: &str) -> Release {
            releases::create(
                &mut self.conn(),
                &admin(),
                project,
                &ReleaseInput {
                    version: version.to_owned(),
                    title: format!("Release {version}"),
                    ..Default::default()
                },
            )
            .expect("creating a release")
        }

        /// Sets an environment's queue policy, keeping the rest of its policy.
        pub fn queue_policy(&self, env: &Environment, max_running: &str, queue: &str) {
            queue_policy_with(&mut self.conn(), env, max_running, queue);
        }

        pub fn grant(&self, user_id: UserId, environment_id: EnvironmentId, role: &str) {
            diesel::insert_into(grants::table)
                .values((
                    grants::user_id.eq(user_id),
                    grants::environment_id.eq(environment_id),
                    grants::role.eq(role),
                ))
                .execute(&mut self.conn())
                .unwrap();
        }

        /// Status of the newest deployment of `release_id` into `environment_id`.
        pub fn status(
            &self,
            release_id: ReleaseId,
            environment_id: EnvironmentId,
        ) -> Option<String> {
            deployments::table
                .filter(deployments::release_id.eq(release_id))
                .filter(deployments::environment_id.eq(environment_id))
                .order(deployments::id.desc())
                .select(deployments::status)
                .first(&mut self.conn())
                .optional()
                .unwrap()
        }

        /// Waits (up to 20 s) until that newest deployment has `status`.
        pub async fn wait_for(
            &self,
            release_id: ReleaseId,
            environment_id: EnvironmentId,
            status: &str,
        ) {
            let started = Instant::now();
            loop {
                let now = self.status(release_id, environment_id);
                if now.as_deref() == Some(status) {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "release {release_id} in environment {environment_id} is {now:?}, not {status}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Whether the test server counts statements (`pg_stat_statements` loaded,
/// as in the private cluster): checked, and the extension created in the
/// maintenance database, once per process.
fn statement_counting_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let mut conn = admin_connection();
        diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&mut conn)
            .is_ok()
            && diesel::sql_query("SELECT 1 FROM pg_stat_statements LIMIT 1")
                .execute(&mut conn)
                .is_ok()
    })
}

/// Statements run against one database, by normalised text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Statements(pub std::collections::BTreeMap<String, i64>);

impl Statements {
    /// How many statements ran in all.
    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }

    /// How many of them match `pattern` (a substring of the normalised text).
    pub fn matching(&self, pattern: &str) -> i64 {
        self.0
            .iter()
            .filter(|(query, _)| query.contains(pattern))
            .map(|(_, calls)| calls)
            .sum()
    }

    fn snapshot(conn: &mut PgConnection, database: &str) -> (Self, i64) {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            query: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            calls: i64,
        }
        #[derive(QueryableByName)]
        struct Info {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            dealloc: i64,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT s.query, s.calls FROM pg_stat_statements s \
             JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 AND s.toplevel",
        )
        .bind::<diesel::sql_types::Text, _>(database)
        .load(conn)
        .expect("reading pg_stat_statements");
        let dealloc = diesel::sql_query("SELECT dealloc FROM pg_stat_statements_info")
            .get_result::<Info>(conn)
            .expect("reading pg_stat_statements_info")
            .dealloc;
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            *counts.entry(row.query).or_insert(0) += row.calls;
        }
        (Self(counts), dealloc)
    }

    fn since(&self, before: &Self) -> Self {
        let mut delta = std::collections::BTreeMap::new();
        for (query, calls) in &self.0 {
            let n = calls - before.0.get(query).copied().unwrap_or(0);
            if n != 0 && !is_connection_upkeep(query) {
                delta.insert(query.clone(), n);
            }
        }
        Self(delta)
    }
}

/// What a pooled connection runs for itself rather than for a request:
/// diesel's settings when it connects, and the pool's check of a connection
/// that sat idle (see `stagecoach::db::IDLE_CHECK`). Whether a request finds
/// a connection ready depends on timing, not on the page.
fn is_connection_upkeep(query: &str) -> bool {
    query.starts_with("SET TIME ZONE")
        || query.starts_with("SET CLIENT_ENCODING")
        || query.contains(stagecoach::db::IDLE_CHECK_MARK)
        || stagecoach::db::SESSION_SETTINGS.iter().any(|setting| {
            setting
                .split('=')
                .next()
                .is_some_and(|name| query.starts_with(name))
        })
}

impl TestApp {
    /// The SQL statements the app ran against this test's database while
    /// `during` ran (top-level statements, from `pg_stat_statements`; a
    /// connection's own upkeep left out), or `None` when the test server
    /// does not count statements (`DATABASE_URL` naming a server without
    /// the module preloaded).
    ///
    /// Every statement against the database counts, so `during` should only
    /// send requests (not use `self.conn()`), and the app must run no
    /// deployment workers: `spawn_app_with(|s| s.deployment_workers = 0)`.
    pub async fn statements_during<F, Fut, T>(&self, during: F) -> Option<(T, Statements)>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        assert_eq!(
            self.deployment_workers, 0,
            "count statements in an app without deployment workers, whose polling would count too"
        );
        if !statement_counting_available() {
            return None;
        }
        let mut conn = admin_connection();
        let (before, dealloc_before) = Statements::snapshot(&mut conn, &self._db.name);
        let out = during().await;
        let (after, dealloc_after) = Statements::snapshot(&mut conn, &self._db.name);
        assert_eq!(
            dealloc_before, dealloc_after,
            "pg_stat_statements dropped entries while counting: raise pg_stat_statements.max"
        );
        Some((out, after.since(&before)))
    }

    /// How many statements one GET of `path` runs with `client`, after one
    /// GET to warm up (connections, prepared statements); asserts it succeeds.
    pub async fn statements_for_get(
        &self,
        client: &reqwest::Client,
        path: &str,
    ) -> Option<Statements> {
        let warm = self.get_with(client, path).await.status();
        assert!(warm.is_success(), "GET {path}: {warm}");
        let (status, statements) = self
            .statements_during(|| async { self.get_with(client, path).await.status() })
            .await?;
        assert!(status.is_success(), "GET {path}: {status}");
        Some(statements)
    }
}
