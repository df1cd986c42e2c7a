//! Faults the database can have besides being down (that is `health`): a
//! read-only database (a full disk, a standby) answers every write with a
//! clear 503, page and API alike, changes nothing, and keeps serving reads.

use serde_json::json;

use crate::helpers::spawn_app;

/// Until the pool has let go of the connections that were ended, a request
/// may meet one of them (a 503 of its own); the next ones reconnect.
async fn settled(app: &crate::helpers::TestApp, path: &str) -> reqwest::Response {
    for _ in 0..20 {
        let response = app.get(path).await;
        if response.status().as_u16() != 503 {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.get(path).await
}

#[tokio::test]
async fn a_read_only_database_refuses_writes_clearly_and_keeps_serving_reads() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let token = crate::api::token(&app, crate::helpers::fixtures::ADMIN_ID, "", &[]);
    let releases_before = app.count("SELECT count(*) AS n FROM releases");
    let audit_before = app.count("SELECT count(*) AS n FROM audit_events");

    app.set_read_only(true);
    // Reads: the dashboard, the release page, the API.
    assert_eq!(settled(&app, "/").await.status().as_u16(), 200);
    let page = app.get("/projects/shop/releases/1.0.0").await;
    assert_eq!(page.status().as_u16(), 200);
    let api = app
        .client
        .get(app.url("/api/v1/projects/shop/releases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 200);

    // A write through a form: a 503 page that says what happened.
    let form = "/projects/shop/releases/new";
    let response = app
        .post_form(form, form, &[("version", "1.1.0"), ("title", "Second")])
        .await;
    assert_eq!(response.status().as_u16(), 503);
    let html = response.text().await.unwrap();
    assert!(html.contains("read-only"), "{html}");
    assert!(html.contains("nothing was changed"), "{html}");
    // And through the API: 503 JSON. A pooled connection the server ended
    // answers its one request "cannot reach" and is dropped; then the
    // database itself answers.
    let mut body = serde_json::Value::Null;
    for _ in 0..5 {
        let api = app
            .client
            .post(app.url("/api/v1/projects/shop/releases"))
            .bearer_auth(&token)
            .json(&json!({"version": "1.2.0", "title": "Third"}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status().as_u16(), 503);
        body = api.json().await.unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
        if body["message"].as_str().unwrap().contains("read-only") {
            break;
        }
    }
    assert!(
        body["message"].as_str().unwrap().contains("read-only"),
        "{body}"
    );

    app.set_read_only(false);
    assert_eq!(settled(&app, "/").await.status().as_u16(), 200);
    assert_eq!(
        app.count_fresh("SELECT count(*) AS n FROM releases"),
        releases_before,
        "nothing was written while read-only"
    );
    assert_eq!(
        app.count_fresh("SELECT count(*) AS n FROM audit_events"),
        audit_before
    );
    // Writable again: the same form works.
    let response = app
        .post_form(form, form, &[("version", "1.1.0"), ("title", "Second")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
}

/// The rules every state of the database keeps, as queries that count
/// what breaks them: each must count 0.
pub(crate) const INVARIANTS: &[(&str, &str)] = &[
    (
        "a release without its first environment",
        "SELECT count(*) AS n FROM releases r WHERE NOT EXISTS (SELECT 1 FROM environment_releases er \
          WHERE er.release_id = r.id AND er.environment_id = r.first_environment_id)",
    ),
    (
        "a release without its audit event",
        "SELECT count(*) AS n FROM releases r WHERE NOT EXISTS (SELECT 1 FROM audit_events a \
          WHERE a.action = 'release.created' AND a.object_id = r.version AND a.project_id = r.project_id)",
    ),
    (
        "a deployment without its audit event",
        "SELECT count(*) AS n FROM deployments d WHERE NOT EXISTS (SELECT 1 FROM audit_events a \
          WHERE a.action = 'deployment.requested' AND a.object_id = d.id::text)",
    ),
    (
        "an approval without its audit event",
        "SELECT count(*) AS n FROM approvals p WHERE p.decision = 'approve' AND NOT EXISTS ( \
          SELECT 1 FROM audit_events a WHERE a.action = 'deployment.approved' \
             AND a.object_id = p.deployment_id::text AND a.actor_id = p.approver_id)",
    ),
    (
        "a deployment past approval without its approvals",
        "SELECT count(*) AS n FROM deployments d WHERE d.status IN ('queued', 'running', 'succeeded', 'failed') \
            AND d.required_approvals > (SELECT count(*) FROM approvals p \
                                         WHERE p.deployment_id = d.id AND p.decision IN ('approve', 'defer'))",
    ),
    (
        "a running deployment without a lease",
        "SELECT count(*) AS n FROM deployments WHERE status = 'running' \
            AND (worker_id IS NULL OR lease_expires_at IS NULL)",
    ),
    (
        "a deployment into an environment before success in the previous one",
        "SELECT count(*) AS n FROM deployments d JOIN environments e ON e.id = d.environment_id \
          JOIN releases r ON r.id = d.release_id \
          WHERE d.environment_id <> r.first_environment_id AND NOT EXISTS ( \
                SELECT 1 FROM deployments p JOIN environments pe ON pe.id = p.environment_id \
                 WHERE p.release_id = d.release_id AND p.status = 'succeeded' \
                   AND pe.project_id = e.project_id AND pe.position < e.position)",
    ),
    (
        "more running in an environment than its policy allows",
        "SELECT count(*) AS n FROM (SELECT d.environment_id FROM deployments d \
            JOIN environments e ON e.id = d.environment_id WHERE d.status = 'running' \
           GROUP BY d.environment_id, e.max_running HAVING count(*) > e.max_running) over",
    ),
];

pub(crate) fn connect(url: &str) -> diesel::PgConnection {
    use diesel::Connection;
    diesel::PgConnection::establish(url).expect("connecting to the database")
}

fn assert_invariants(url: &str, when: &str) {
    let mut conn = connect(url);
    for (rule, sql) in INVARIANTS {
        let broken = crate::helpers::count_on(&mut conn, sql);
        assert_eq!(broken, 0, "{when}: {rule} ({broken})");
    }
}

fn start_serve(url: &str, port: u16, dir: &std::path::Path) -> std::process::Child {
    start_serve_with(url, port, dir, &[])
}

/// `start_serve` with more settings in its environment.
fn start_serve_with(
    url: &str,
    port: u16,
    dir: &std::path::Path,
    more: &[(&str, &str)],
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("serve")
        .envs(more.iter().copied())
        .env("DATABASE_URL", url)
        .env("STAGECOACH_DATA_DIR", dir)
        .env("STAGECOACH_SECRET_KEY", crate::helpers::TEST_SECRET_KEY)
        .env("STAGECOACH_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("STAGECOACH_BIND", format!("127.0.0.1:{port}"))
        .env("STAGECOACH_LEASE_SECONDS", "2")
        .env("STAGECOACH_WORKERS", "2")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting stagecoach serve")
}

pub(crate) async fn ready(port: u16) {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stagecoach serve did not become ready");
}

/// A project whose Development runs a short step two at a time and whose
/// QA needs one approval (the admin may give it), and an admin's token.
fn shop(url: &str) -> (String, String) {
    let mut conn = connect(url);
    let admin = crate::helpers::fixtures::admin();
    let project = stagecoach::domain::projects::create(
        &mut conn,
        &admin,
        &stagecoach::domain::projects::ProjectInput {
            name: "Shop".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let pipeline = stagecoach::domain::environments::list(&mut conn, project.id).unwrap();
    // Steps that take a moment, so deployments are running when it dies.
    stagecoach::domain::steps::add(
        &mut conn,
        &admin,
        &pipeline[0],
        &stagecoach::domain::steps::StepInput {
            kind: "script".into(),
            name: "deploy".into(),
            script: "sleep 0.1".into(),
            url: String::new(),
            timeout_seconds: "60".into(),
        },
    )
    .unwrap();
    let mut dev = stagecoach::domain::environments::PolicyInput::of(&pipeline[0]);
    dev.max_running = "2".into();
    stagecoach::domain::environments::set_policy(&mut conn, &admin, &pipeline[0], &dev).unwrap();
    let mut qa = stagecoach::domain::environments::PolicyInput::of(&pipeline[1]);
    qa.required_approvals = "1".into();
    qa.allow_self_approval = true;
    stagecoach::domain::environments::set_policy(&mut conn, &admin, &pipeline[1], &qa).unwrap();
    let token = stagecoach::domain::tokens::create(
        &mut conn,
        &admin,
        crate::helpers::fixtures::ADMIN_ID,
        &stagecoach::domain::tokens::NewToken {
            name: "ci".into(),
            ..Default::default()
        },
    )
    .unwrap()
    .secret;
    (project.slug, token)
}

/// Releases, deployments and approvals answered 2xx.
#[derive(Debug, Clone, Default)]
struct Answered {
    releases: Vec<String>,
    deployments: Vec<i64>,
    approvals: Vec<i64>,
}

/// Eight API clients creating releases, promoting each to QA once it may
/// go, and approving, until `stop`; what was answered 2xx is noted. A
/// refused or failed request is simply tried again with the next one.
fn burst(
    port: u16,
    slug: &str,
    token: &str,
    answered: &std::sync::Arc<std::sync::Mutex<Answered>>,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|client_no| {
            let (token, answered, stop) = (token.to_owned(), answered.clone(), stop.clone());
            let api = format!("http://127.0.0.1:{port}/api/v1");
            let base = format!("{api}/projects/{slug}");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut made: Vec<String> = Vec::new();
                let mut promoted = 0;
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    let version = format!("{client_no}.{n}.0");
                    let created = client
                        .post(format!("{base}/releases"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "version": version, "title": "Burst" }))
                        .send()
                        .await;
                    if created.is_ok_and(|r| r.status().as_u16() == 201) {
                        answered.lock().unwrap().releases.push(version.clone());
                        made.push(version);
                    } else {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    // The oldest not promoted yet (refused, 409, until it
                    // succeeded in Development).
                    let Some(earlier) = made.get(promoted).cloned() else {
                        continue;
                    };
                    let Ok(deployed) = client
                        .post(format!("{base}/releases/{earlier}/deployments"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "environment": "qa" }))
                        .send()
                        .await
                    else {
                        continue;
                    };
                    if deployed.status().as_u16() != 201 {
                        continue;
                    }
                    promoted += 1;
                    let body: serde_json::Value = deployed.json().await.unwrap_or_default();
                    let Some(id) = body["id"].as_i64() else {
                        continue;
                    };
                    answered.lock().unwrap().deployments.push(id);
                    let approved = client
                        .post(format!("{api}/deployments/{id}/approve"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    if approved.is_ok_and(|r| r.status().as_u16() == 200) {
                        answered.lock().unwrap().approvals.push(id);
                    }
                }
            })
        })
        .collect()
}

/// Every write answered 2xx is in the database.
fn assert_kept(url: &str, answered: &Answered) {
    use diesel::prelude::*;
    use stagecoach::db::schema::{approvals, deployments, releases};
    let mut conn = connect(url);
    let stored: Vec<String> = releases::table
        .select(releases::version)
        .load(&mut conn)
        .unwrap();
    for version in &answered.releases {
        assert!(
            stored.contains(version),
            "release {version} was answered 201 and is gone"
        );
    }
    let stored: Vec<i64> = deployments::table
        .select(deployments::id)
        .load::<stagecoach::domain::ids::DeploymentId>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|d| d.0)
        .collect();
    for id in &answered.deployments {
        assert!(
            stored.contains(id),
            "deployment {id} was answered 201 and is gone"
        );
    }
    let approved: Vec<i64> = approvals::table
        .select(approvals::deployment_id)
        .load(&mut conn)
        .unwrap();
    for id in &answered.approvals {
        assert!(
            approved.contains(id),
            "the approval of {id} was answered 200 and is gone"
        );
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_killed_under_a_burst_of_writes_leaves_every_rule_holding_and_every_answered_write()
{
    use std::sync::{Arc, Mutex};
    let db = crate::helpers::TestDb::new();
    let dir = crate::health::tempdir("killed");
    let port = free_port();
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    let (slug, token) = shop(&db.url);
    let answered: Arc<Mutex<Answered>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = burst(port, &slug, &token, &answered, &stop);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // SIGKILL, mid-burst: no handler, no worker, gets to finish anything.
    child.kill().unwrap();
    let _ = child.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in tasks {
        let _ = task.await;
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.releases.len() >= 10, "{answered:?}");
    assert_invariants(&db.url, "after the kill");
    assert_kept(&db.url, &answered);

    // What the dead process's workers held.
    let held: Vec<i64> = {
        use diesel::prelude::*;
        use stagecoach::db::schema::deployments;
        deployments::table
            .filter(deployments::status.eq("running"))
            .select(deployments::id)
            .load::<stagecoach::domain::ids::DeploymentId>(&mut db.connect())
            .unwrap()
            .into_iter()
            .map(|d| d.0)
            .collect()
    };
    assert!(!held.is_empty(), "deployments were running at the kill");

    // Started again: what the dead workers held is failed as worker lost
    // once its lease runs out, and the rules still hold.
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    let started = std::time::Instant::now();
    let lost = loop {
        let states: Vec<(String, String)> = {
            use diesel::prelude::*;
            use stagecoach::db::schema::deployments;
            deployments::table
                .filter(deployments::id.eq_any(held.clone()))
                .select((deployments::status, deployments::note))
                .load(&mut db.connect())
                .unwrap()
        };
        if states.iter().all(|(status, _)| status != "running") {
            break states;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{states:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for (status, note) in &lost {
        assert_eq!(status, "failed");
        assert!(note.starts_with("Worker lost"), "{note}");
    }
    assert_invariants(&db.url, "after the restart");
    child.kill().unwrap();
    let _ = child.wait();
    println!(
        "killed under load: {} releases, {} deployments and {} approvals answered before the kill, all kept; {} running deployments failed as worker lost after the restart",
        answered.releases.len(),
        answered.deployments.len(),
        answered.approvals.len(),
        lost.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restarted_mid_burst_leaves_no_half_written_change_and_the_app_recovers() {
    use stagecoach::db::local_pg::LocalPostgres;
    use std::sync::{Arc, Mutex};
    // A cluster of its own, so stopping it disturbs no other test.
    let dir = crate::health::tempdir("db-restart");
    let cluster = LocalPostgres::start(&dir.join("pg"), true).expect("starting a cluster");
    cluster.create_database("stagecoach").unwrap();
    let url = cluster.database_url("stagecoach");
    let port = free_port();
    let mut child = start_serve(&url, port, &dir);
    ready(port).await;
    let (slug, token) = shop(&url);
    let answered: Arc<Mutex<Answered>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = burst(port, &slug, &token, &answered, &stop);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // A fast stop: open transactions are rolled back, connections cut.
    let before = answered.lock().unwrap().releases.len();
    cluster.force_stop().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let cluster = LocalPostgres::start(&dir.join("pg"), true).expect("restarting the cluster");
    let back = std::time::Instant::now();
    // The burst goes on against the same app, which recovers by itself.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if answered.lock().unwrap().releases.len() > before + 5 {
            break;
        }
        assert!(
            back.elapsed() < std::time::Duration::from_secs(20),
            "the app did not recover after the database came back"
        );
    }
    let recovered = back.elapsed();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in tasks {
        let _ = task.await;
    }
    let answered = answered.lock().unwrap().clone();
    assert_invariants(&url, "after the database restarted");
    assert_kept(&url, &answered);
    child.kill().unwrap();
    let _ = child.wait();
    cluster.force_stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "database restarted mid-burst: {} releases, {} deployments and {} approvals answered, all kept; writes succeeded again {:.1} s after it was back",
        answered.releases.len(),
        answered.deployments.len(),
        answered.approvals.len(),
        recovered.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_long_polls_refuses_new_requests_and_lets_the_running_step_finish() {
    use diesel::prelude::*;
    use stagecoach::db::schema::deployments;
    let db = crate::helpers::TestDb::new();
    let dir = crate::health::tempdir("sigterm");
    let port = free_port();
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    let (slug, token) = shop(&db.url);
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let create = |version: &str| {
        client
            .post(format!("{api}/projects/{slug}/releases"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "version": version, "title": "T" }))
            .send()
    };
    assert_eq!(create("1.0.0").await.unwrap().status().as_u16(), 201);
    let state_of = |version: &'static str, env: i64| {
        let url = db.url.clone();
        move || -> Option<String> {
            deployments::table
                .inner_join(stagecoach::db::schema::releases::table)
                .filter(stagecoach::db::schema::releases::version.eq(version))
                .filter(deployments::environment_id.eq(env))
                .order(deployments::id.desc())
                .select(deployments::status)
                .first(&mut connect(&url))
                .optional()
                .unwrap()
        }
    };
    let (dev_id, qa_id): (i64, i64) = {
        use stagecoach::db::schema::environments;
        let ids: Vec<i64> = environments::table
            .order(environments::position)
            .select(environments::id)
            .load::<stagecoach::domain::ids::EnvironmentId>(&mut connect(&db.url))
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        (ids[0], ids[1])
    };
    let first_in_dev = state_of("1.0.0", dev_id);
    let started = std::time::Instant::now();
    while first_in_dev().as_deref() != Some("succeeded") {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // One waiting for approval in QA, followed by a long poll.
    let waiting: serde_json::Value = client
        .post(format!("{api}/projects/{slug}/releases/1.0.0/deployments"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "environment": "qa" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let waiting_id = waiting["id"].as_i64().unwrap();
    let poll = tokio::spawn({
        let (client, token) = (client.clone(), token.clone());
        let url = format!("{api}/deployments/{waiting_id}?wait=60");
        async move {
            let response = client.get(url).bearer_auth(token).send().await;
            (
                std::time::Instant::now(),
                response.map(|r| r.status().as_u16()),
            )
        }
    });
    // One running a 3-second step in Development.
    stagecoach::domain::steps::add(
        &mut connect(&db.url),
        &crate::helpers::fixtures::admin(),
        &stagecoach::domain::environments::list(
            &mut connect(&db.url),
            stagecoach::domain::ids::ProjectId(1),
        )
        .unwrap()[0],
        &stagecoach::domain::steps::StepInput {
            kind: "script".into(),
            name: "slow".into(),
            script: "sleep 3".into(),
            url: String::new(),
            timeout_seconds: "60".into(),
        },
    )
    .unwrap();
    assert_eq!(create("1.1.0").await.unwrap().status().as_u16(), 201);
    let second_in_dev = state_of("1.1.0", dev_id);
    let started = std::time::Instant::now();
    while second_in_dev().as_deref() != Some("running") {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let asked = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // The long poll is answered at once, with where it stands.
    let (answered_at, status) = poll.await.unwrap();
    assert_eq!(status.unwrap(), 200);
    let answered_in = answered_at.duration_since(asked);
    assert!(
        answered_in < std::time::Duration::from_secs(2),
        "the long poll took {answered_in:?}"
    );
    // New requests are refused while the step still runs.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still finishing the step"
    );
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "a new request was accepted after SIGTERM"
    );
    // The step finishes; the process exits cleanly and leaves nothing running.
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(40),
            "serve did not stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let stopped_in = asked.elapsed();
    assert!(exited.success(), "serve exited with {exited}");
    assert_eq!(second_in_dev().as_deref(), Some("succeeded"));
    assert_eq!(
        state_of("1.0.0", qa_id)().as_deref(),
        Some("awaiting_approval")
    );
    assert_invariants(&db.url, "after SIGTERM");
    println!(
        "SIGTERM: long poll answered in {:.2} s; the running step finished and serve exited {:.1} s after the signal",
        answered_in.as_secs_f64(),
        stopped_in.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `sql` (a count) is at least `n`.
async fn until_count(url: &str, sql: &str, n: i64, what: &str) {
    let started = std::time::Instant::now();
    loop {
        let now = crate::helpers::count_on(&mut connect(url), sql);
        if now >= n {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{what}: {now} of {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_a_manual_step_or_while_verifying_loses_its_deployments_which_can_be_redeployed()
 {
    use stagecoach::domain::{checks, deployments, environments, projects, releases, steps};
    let db = crate::helpers::TestDb::new();
    let dir = crate::health::tempdir("killed-waiting");
    let port = free_port();
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    let admin = crate::helpers::fixtures::admin();
    let mut conn = connect(&db.url);
    let project = |name: &str, conn: &mut diesel::PgConnection| {
        let project = projects::create(
            conn,
            &admin,
            &projects::ProjectInput {
                name: name.into(),
                ..Default::default()
            },
        )
        .unwrap();
        let dev = environments::list(conn, project.id).unwrap().remove(0);
        (project, dev)
    };
    // One deployment waits for a person; another verifies with a check
    // that takes its time.
    let (manual, manual_dev) = project("Manual", &mut conn);
    steps::add(
        &mut conn,
        &admin,
        &manual_dev,
        &steps::StepInput {
            kind: "manual".into(),
            name: "Look".into(),
            script: "Are the dashboards calm?".into(),
            url: String::new(),
            timeout_seconds: "600".into(),
        },
    )
    .unwrap();
    let (checked, checked_dev) = project("Checked", &mut conn);
    checks::add(
        &mut conn,
        &admin,
        &checked_dev,
        &checks::CheckInput {
            kind: "script".into(),
            name: "slow".into(),
            script: "sleep 30".into(),
            ..checks::CheckInput::blank()
        },
    )
    .unwrap();
    let release = |project: &stagecoach::domain::projects::Project,
                   conn: &mut diesel::PgConnection| {
        releases::create(
            conn,
            &admin,
            project,
            &releases::ReleaseInput {
                version: "1.0.0".into(),
                title: "First".into(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let waiting = release(&manual, &mut conn);
    let verifying = release(&checked, &mut conn);
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM deployment_steps WHERE kind = 'manual' AND status = 'running'",
        1,
        "waiting at the manual step",
    )
    .await;
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM deployments WHERE verifying_since IS NOT NULL AND status = 'running'",
        1,
        "verifying",
    )
    .await;
    child.kill().unwrap();
    let _ = child.wait();

    // Started again: both end as worker lost once their lease runs out.
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM deployments WHERE status = 'failed' AND note LIKE 'Worker lost%'",
        2,
        "reaped",
    )
    .await;
    // The manual step can no longer be decided, and both can be deployed
    // again: one at a time, nothing twice at once.
    let stale = {
        use diesel::prelude::*;
        use stagecoach::db::schema::deployments as table;
        table::table
            .filter(table::release_id.eq(waiting.id))
            .select(table::id)
            .first::<stagecoach::domain::ids::DeploymentId>(&mut conn)
            .unwrap()
    };
    let refused = deployments::manual::decide(&mut conn, &admin, stale, 0, true, "late");
    assert!(refused.is_err(), "a lost deployment's step was decided");
    for (release, dev) in [(&waiting, &manual_dev), (&verifying, &checked_dev)] {
        deployments::request(
            &mut conn,
            &admin,
            release.id,
            &deployments::DeployInput {
                environment_id: dev.id,
                ..Default::default()
            },
        )
        .unwrap();
    }
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM deployments WHERE status = 'running' AND attempt = 2",
        2,
        "redeployed and running again",
    )
    .await;
    assert_invariants(
        &db.url,
        "after the worker was killed and its deployments redeployed",
    );
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped
/// by whoever adopted it).
fn ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        // The state follows the command name's closing parenthesis.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// The worker (the real `serve`) is SIGKILLed while a script step runs a
/// process of its own: the script and what it started die with the worker
/// instead of running on orphaned; the lease fails the deployment as
/// "worker lost"; it is deployed again as attempt 2, and its first
/// attempt's processes are not there to run beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_in_a_step_takes_the_steps_processes_with_it_and_the_deployment_is_lost_then_redeployable()
 {
    use stagecoach::domain::{deployments, environments, projects, releases, steps};
    let db = crate::helpers::TestDb::new();
    let dir = crate::health::tempdir("killed-in-step");
    let port = free_port();
    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    let admin = crate::helpers::fixtures::admin();
    let mut conn = connect(&db.url);
    let project = projects::create(
        &mut conn,
        &admin,
        &projects::ProjectInput {
            name: "Scripted".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let dev = environments::list(&mut conn, project.id).unwrap().remove(0);
    let pids = dir.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    steps::add(
        &mut conn,
        &admin,
        &dev,
        &steps::StepInput {
            kind: "script".into(),
            name: "Migrate".into(),
            script: format!(
                "sleep 300 &\necho \"$$ $!\" > {}/deployment-$STAGECOACH_DEPLOYMENT_ID\nwait\n",
                pids.display()
            ),
            url: String::new(),
            timeout_seconds: "600".into(),
        },
    )
    .unwrap();
    let release = releases::create(
        &mut conn,
        &admin,
        &project,
        &releases::ReleaseInput {
            version: "1.0.0".into(),
            title: "First".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let started = |deployment: i64| {
        let file = pids.join(format!("deployment-{deployment}"));
        async move {
            let waited = std::time::Instant::now();
            loop {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    let found: Vec<i32> = text
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect();
                    if found.len() == 2 {
                        return found;
                    }
                }
                assert!(
                    waited.elapsed() < std::time::Duration::from_secs(30),
                    "deployment {deployment}'s script did not start"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    let first = started(crate::helpers::count_on(
        &mut conn,
        "SELECT max(id) AS n FROM deployments",
    ))
    .await;
    assert!(!first.iter().any(|&pid| ended(pid)), "the script runs");
    child.kill().unwrap();
    let _ = child.wait();
    let killed = std::time::Instant::now();
    while !first.iter().all(|&pid| ended(pid)) {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(5),
            "the script (pid {}) or what it started (pid {}) outlived the worker",
            first[0],
            first[1]
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    println!(
        "the step's processes ended {} ms after the worker was killed",
        killed.elapsed().as_millis()
    );

    let mut child = start_serve(&db.url, port, &dir);
    ready(port).await;
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM deployments WHERE status = 'failed' AND note LIKE 'Worker lost%'",
        1,
        "reaped",
    )
    .await;
    let again = deployments::request(
        &mut conn,
        &admin,
        release.id,
        &deployments::DeployInput {
            environment_id: dev.id,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(again.attempt, 2);
    let second = started(again.id.0).await;
    assert!(!second.iter().any(|&pid| ended(pid)), "attempt 2 runs");
    assert_invariants(&db.url, "after the worker was killed in a step");
    child.kill().unwrap();
    let _ = child.wait();
    let killed = std::time::Instant::now();
    while !second.iter().all(|&pid| ended(pid)) {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(5),
            "attempt 2 outlived the worker"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An event receiver that never answers the first delivery it gets (so the
/// sender is caught mid-send) and answers every other one 200. Says when
/// the first arrived, and keeps the `webhook-id` of each request in order.
fn stalling_receiver() -> (
    String,
    std::sync::mpsc::Receiver<()>,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ids = seen.clone();
    std::thread::spawn(move || {
        let mut stalled = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut id) = (0, String::new());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or(("", ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "webhook-id" => id = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let first = {
                let mut ids = ids.lock().unwrap();
                ids.push(id);
                ids.len() == 1
            };
            if first {
                stalled.push(stream);
                let _ = first_tx.send(());
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    (url, first_rx, seen)
}

/// The process sending event webhooks is SIGKILLed while a delivery is in
/// flight (its receiver has it and has not answered). Started again, it
/// sends that delivery again once the dead sender's hold runs out, and the
/// ones it had not reached once: every event delivered, the one in flight
/// twice (at least once, never more), none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_delivery_sends_it_again_after_its_hold_and_loses_none() {
    use stagecoach::domain::{projects, releases, webhooks};
    let db = crate::helpers::TestDb::new();
    let dir = crate::health::tempdir("killed-sending");
    let port = free_port();
    // A 1 s delivery timeout and a 2 s lease: the hold is 5 × 1 + 2 = 7 s.
    let settings = [
        ("STAGECOACH_WEBHOOK_ALLOW", "127.0.0.0/8"),
        ("STAGECOACH_DELIVERY_TIMEOUT_SECONDS", "1"),
    ];
    let mut child = start_serve_with(&db.url, port, &dir, &settings);
    ready(port).await;
    let admin = crate::helpers::fixtures::admin();
    let mut conn = connect(&db.url);
    let project = projects::create(
        &mut conn,
        &admin,
        &projects::ProjectInput {
            name: "Hooked".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let (url, first, seen) = stalling_receiver();
    webhooks::create(
        &mut conn,
        &admin,
        &stagecoach::domain::secrets::SecretBox::from_secret_key(crate::helpers::TEST_SECRET_KEY),
        project.id,
        &webhooks::SubscriptionInput {
            url,
            events: vec!["release.created".into()],
            format: "standard".into(),
        },
    )
    .unwrap();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        releases::create(
            &mut conn,
            &admin,
            &project,
            &releases::ReleaseInput {
                version: version.into(),
                title: "Hooked".into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    tokio::task::spawn_blocking(move || first.recv_timeout(std::time::Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the first delivery arrived");
    child.kill().unwrap();
    let _ = child.wait();
    let in_flight = seen.lock().unwrap()[0].clone();
    assert_eq!(
        crate::helpers::count_on(
            &mut conn,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'"
        ),
        3,
        "nothing was delivered before the kill"
    );

    let restarted = std::time::Instant::now();
    let mut child = start_serve_with(&db.url, port, &dir, &settings);
    ready(port).await;
    until_count(
        &db.url,
        "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'",
        3,
        "every event delivered after the restart",
    )
    .await;
    let waited = restarted.elapsed();
    let seen = seen.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(ids.len(), 3, "three events, three message ids: {seen:?}");
    for id in &ids {
        let times = seen.iter().filter(|s| s == id).count();
        let expected = if **id == in_flight { 2 } else { 1 };
        assert_eq!(times, expected, "{id} received {times} times: {seen:?}");
    }
    println!(
        "in-flight delivery sent again and all 3 delivered {:.1} s after the restart (hold 7 s); {} requests received",
        waited.as_secs_f64(),
        seen.len()
    );
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
