//! Workers as separate processes on one database: many of them, killed
//! with -9, and stopped with SIGTERM.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stagecoach::db;
use stagecoach::domain::deployments::{self, DeployInput};
use stagecoach::domain::environments;
use stagecoach::domain::projects::{self, ProjectInput};
use stagecoach::domain::releases::{self, ReleaseInput};
use stagecoach::domain::steps::{self, StepInput};

use crate::helpers::fixtures::admin;
use crate::helpers::{TEST_SECRET_KEY, TestDb};

/// A child process killed when dropped, whatever the test did.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    fn start(args: &[&str], db: &TestDb, data_dir: &std::path::Path, lease: u32) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("STAGECOACH_SECRET_KEY", TEST_SECRET_KEY)
            .env("STAGECOACH_ADMIN_PASSWORD", "admin-password-for-tests")
            .env("STAGECOACH_DATA_DIR", data_dir)
            // Step directories a killed worker cannot remove stay inside
            // the test's own directory, which the test removes.
            .env("TMPDIR", data_dir.join("tmp"))
            .env("STAGECOACH_LEASE_SECONDS", lease.to_string())
            .env("STAGECOACH_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting stagecoach");
        Self(child)
    }

    fn signal(&self, signal: &str) {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

struct Setup {
    db: TestDb,
    pool: db::DbPool,
    project: projects::Project,
    pipeline: Vec<environments::Environment>,
    dir: std::path::PathBuf,
}

fn setup(script_for: impl Fn(&std::path::Path) -> String, envs: usize) -> Setup {
    stagecoach::telemetry::init();
    let db = TestDb::new();
    let pool = db::build_pool(&db.url, 4).unwrap();
    let mut conn = pool.get().unwrap();
    // The administrator `fixtures::admin()` names, as a first start makes it.
    stagecoach::domain::bootstrap::ensure_admin(&mut conn, Some(crate::helpers::ADMIN_PASSWORD))
        .unwrap();
    let project = projects::create(
        &mut conn,
        &admin(),
        &ProjectInput {
            name: "Fleet".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let pipeline = environments::list(&mut conn, project.id).unwrap();
    let dir = crate::health::tempdir("workers");
    for env in pipeline.iter().take(envs) {
        crate::helpers::fixtures::queue_policy_with(&mut conn, env, "3", "all");
        steps::add(
            &mut conn,
            &admin(),
            env,
            &StepInput {
                kind: "script".into(),
                name: "run".into(),
                script: script_for(&dir),
                url: String::new(),
                timeout_seconds: "60".into(),
            },
        )
        .unwrap();
    }
    drop(conn);
    Setup {
        db,
        pool,
        project,
        pipeline,
        dir,
    }
}

fn count(pool: &db::DbPool, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::RunQueryDsl::get_result::<N>(diesel::sql_query(sql), &mut pool.get().unwrap())
        .unwrap()
        .n
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn two_servers_and_three_workers_run_two_hundred_deployments_each_exactly_once() {
    let s = setup(
        |dir| {
            format!(
                "echo \"$STAGECOACH_DEPLOYMENT_ID\" >> {}/ran.txt",
                dir.display()
            )
        },
        2,
    );
    let data = s.dir.join("data");
    let _procs: Vec<Process> = (0..5)
        .map(|i| {
            let args: &[&str] = if i < 2 { &["serve"] } else { &["worker"] };
            Process::start(args, &s.db, &data, 10)
        })
        .collect();
    let mut conn = s.pool.get().unwrap();
    let releases: Vec<_> = (0..100)
        .map(|i| {
            releases::create(
                &mut conn,
                &admin(),
                &s.project,
                &ReleaseInput {
                    version: format!("1.0.{i}"),
                    title: "t".into(),
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    wait_until(
        Duration::from_secs(180),
        "100 deployments to Development",
        || {
            count(
                &s.pool,
                "SELECT count(*) AS n FROM deployments WHERE status = 'succeeded'",
            ) == 100
        },
    );
    for release in &releases {
        deployments::request(
            &mut conn,
            &admin(),
            release.id,
            &DeployInput {
                environment_id: s.pipeline[1].id,
                ..Default::default()
            },
        )
        .unwrap();
    }
    wait_until(Duration::from_secs(180), "200 deployments", || {
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployments WHERE status = 'succeeded'",
        ) == 200
    });
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployments WHERE status <> 'succeeded'"
        ),
        0
    );
    let ran = std::fs::read_to_string(s.dir.join("ran.txt")).unwrap();
    let ids: Vec<&str> = ran.lines().collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 200, "each deployment ran exactly once");
    assert_eq!(unique.len(), 200);
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.started'"
        ),
        200
    );
    // More than one process did the work.
    assert!(
        count(
            &s.pool,
            "SELECT count(DISTINCT split_part(actor_name, '-', 1))::bigint AS n FROM audit_events WHERE action = 'deployment.started'"
        ) > 1
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_deployment_whose_worker_is_killed_fails_as_worker_lost_once_the_lease_expires() {
    let s = setup(|_| "echo started; sleep 4; echo finished".to_owned(), 1);
    let data = s.dir.join("data");
    let mut first = Process::start(&["worker"], &s.db, &data, 2);
    let mut conn = s.pool.get().unwrap();
    releases::create(
        &mut conn,
        &admin(),
        &s.project,
        &ReleaseInput {
            version: "1.0.0".into(),
            title: "t".into(),
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(Duration::from_secs(30), "the deployment to run", || {
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployments WHERE status = 'running'",
        ) == 1
    });
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    let _second = Process::start(&["worker"], &s.db, &data, 2);
    wait_until(
        Duration::from_secs(30),
        "the lost deployment to fail",
        || {
            count(
                &s.pool,
                "SELECT count(*) AS n FROM deployments WHERE status = 'failed' AND note LIKE 'Worker lost%'",
            ) == 1
        },
    );
    // It is not silently rerun.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&s.pool, "SELECT count(*) AS n FROM deployments"), 1);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn on_sigterm_a_worker_finishes_the_running_step_and_exits() {
    let s = setup(|_| "echo started; sleep 1.5; echo finished".to_owned(), 1);
    let data = s.dir.join("data");
    let mut worker = Process::start(&["worker"], &s.db, &data, 10);
    let mut conn = s.pool.get().unwrap();
    releases::create(
        &mut conn,
        &admin(),
        &s.project,
        &ReleaseInput {
            version: "1.0.0".into(),
            title: "t".into(),
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(Duration::from_secs(30), "the deployment to run", || {
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployments WHERE status = 'running'",
        ) == 1
    });
    worker.signal("TERM");
    let status = worker
        .wait_exit(Duration::from_secs(30))
        .expect("the worker stopped");
    assert!(status.success(), "{status}");
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployments WHERE status = 'succeeded'"
        ),
        1
    );
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM deployment_logs WHERE line = 'finished'"
        ),
        1
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}
