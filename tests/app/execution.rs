//! Deployments doing real work: scripts and webhooks, logs, secrets, the
//! snapshot rule, queue policies, cancelling, and lost workers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use stagecoach::db::schema::{
    deployment_logs, deployments as deployments_table, variables as variables_table,
};
use stagecoach::domain::deployments::{self, DeployInput, Deployment, Outcome};
use stagecoach::domain::environments;
use stagecoach::domain::ids::{DeploymentId, EnvironmentId, ReleaseId};
use stagecoach::domain::steps::{self, StepInput};

use crate::helpers::fixtures::{add_script, admin, set_var};
use crate::helpers::{TestApp, spawn_app};

fn latest(app: &TestApp, release_id: ReleaseId, environment_id: EnvironmentId) -> Deployment {
    deployments_table::table
        .filter(deployments_table::release_id.eq(release_id))
        .filter(deployments_table::environment_id.eq(environment_id))
        .order(deployments_table::id.desc())
        .select(Deployment::as_select())
        .first(&mut app.conn())
        .unwrap()
}

fn log_of(app: &TestApp, deployment_id: DeploymentId) -> Vec<String> {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment_id))
        .order(deployment_logs::id.asc())
        .select(deployment_logs::line)
        .load(&mut app.conn())
        .unwrap()
}

fn promote(app: &TestApp, release_id: ReleaseId, environment_id: EnvironmentId) -> Deployment {
    deployments::request(
        &mut app.conn(),
        &admin(),
        release_id,
        &DeployInput {
            environment_id,
            ..Default::default()
        },
    )
    .unwrap()
}

fn scratch(label: &str) -> std::path::PathBuf {
    crate::health::tempdir(label)
}

#[tokio::test]
async fn a_script_runs_with_the_release_values_and_its_output_is_the_log() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    add_script(
        &app,
        &pipeline[0],
        "announce",
        "echo \"deploying $STAGECOACH_RELEASE_VERSION ($STAGECOACH_VERSION_LABEL) of $STAGECOACH_PROJECT to $STAGECOACH_ENVIRONMENT\"\necho \"artifact $STAGECOACH_ARTIFACT_0_NAME\"\necho warning >&2\n",
        30,
    );
    add_script(
        &app,
        &pipeline[0],
        "second",
        "echo second step in $(pwd)",
        30,
    );
    let release = stagecoach::domain::releases::create(
        &mut app.conn(),
        &admin(),
        &project,
        &stagecoach::domain::releases::ReleaseInput {
            version: "1.2.3".into(),
            title: "t".into(),
            artifacts: vec![stagecoach::domain::releases::ArtifactInput {
                name: "web".into(),
                reference: "web:1.2.3".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let d = latest(&app, release.id, pipeline[0].id);
    let log = log_of(&app, d.id).join("\n");
    assert!(
        log.contains("deploying 1.2.3 (1.2.3) of shop to Development"),
        "{log}"
    );
    assert!(log.contains("artifact web"));
    assert!(log.contains("warning"));
    assert!(log.contains("second step in /"));
    let runs = deployments::step_runs(&mut app.conn(), d.id).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["succeeded", "succeeded"]
    );
    assert!(
        runs.iter()
            .all(|r| r.started_at.is_some() && r.finished_at.is_some())
    );
}

#[tokio::test]
async fn a_failing_step_fails_the_deployment_and_the_rest_are_skipped() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    add_script(&app, &pipeline[0], "ok", "echo fine", 30);
    add_script(
        &app,
        &pipeline[0],
        "broken",
        "echo about to fail; exit 3",
        30,
    );
    add_script(&app, &pipeline[0], "never", "echo must not run", 30);
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    let d = latest(&app, release.id, pipeline[0].id);
    assert!(
        d.note.contains("broken") && d.note.contains("exit code 3"),
        "{}",
        d.note
    );
    let statuses: Vec<String> = deployments::step_runs(&mut app.conn(), d.id)
        .unwrap()
        .into_iter()
        .map(|r| r.status.as_str().to_owned())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed", "skipped"]);
    assert!(!log_of(&app, d.id).join("\n").contains("must not run"));
}

#[tokio::test]
async fn a_step_that_runs_too_long_is_stopped_at_its_timeout() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    add_script(
        &app,
        &pipeline[0],
        "slow",
        "echo start; sleep 30; echo never",
        1,
    );
    let release = app.release(&project, "1.0.0");
    let started = Instant::now();
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    assert!(started.elapsed() < Duration::from_secs(15));
    let d = latest(&app, release.id, pipeline[0].id);
    assert!(d.note.contains("timed out after 1 s"), "{}", d.note);
}

#[tokio::test]
async fn cancelling_a_running_deployment_stops_its_whole_process_group() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let dir = scratch("cancel");
    let script = format!(
        "echo $$ > {d}/shell.pid\nsleep 60 &\necho $! > {d}/child.pid\necho started\nwait\n",
        d = dir.display()
    );
    add_script(&app, &pipeline[0], "long", &script, 120);
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "running").await;
    let child_file = dir.join("child.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !child_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids: Vec<String> = ["shell.pid", "child.pid"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    let d = latest(&app, release.id, pipeline[0].id);
    let page = format!("/deployments/{}", d.id);
    let response = app.post_form(&format!("{page}/cancel"), &page, &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for(release.id, pipeline[0].id, "cancelled").await;
    for pid in &pids {
        // Gone, or a zombie waiting for init to reap it: not running.
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit(") ").next().map(|rest| !rest.starts_with('Z')))
                .unwrap_or(false)
        };
        let until = Instant::now() + Duration::from_secs(3);
        while running() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!running(), "process {pid} survived the cancel");
    }
    let d = latest(&app, release.id, pipeline[0].id);
    assert!(d.note.contains("Cancelled"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_queued_deployment_is_cancelled_at_once() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let d = latest(&app, release.id, pipeline[0].id);
    deployments::cancel(&mut app.conn(), &admin(), d.id).unwrap();
    assert_eq!(
        app.status(release.id, pipeline[0].id).as_deref(),
        Some("cancelled")
    );
    assert!(
        deployments::cancel(&mut app.conn(), &admin(), d.id).is_err(),
        "already finished"
    );
}

#[tokio::test]
async fn stdout_and_stderr_are_interleaved_in_the_order_they_were_written() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    add_script(
        &app,
        &pipeline[0],
        "talk",
        "for i in 1 2 3 4; do echo out$i; sleep 0.1; echo err$i >&2; sleep 0.1; done",
        30,
    );
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let d = latest(&app, release.id, pipeline[0].id);
    let lines: Vec<String> = log_of(&app, d.id)
        .into_iter()
        .filter(|l| l.starts_with("out") || l.starts_with("err"))
        .collect();
    assert_eq!(
        lines,
        [
            "out1", "err1", "out2", "err2", "out3", "err3", "out4", "err4"
        ]
    );
}

#[tokio::test]
async fn secret_values_are_encrypted_at_rest_and_masked_in_logs_pages_and_audit() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let settings = format!(
        "/admin/projects/{}/environments/development/settings",
        project.slug
    );
    let response = app
        .post_form(
            &format!(
                "/admin/projects/{}/environments/development/variables",
                project.slug
            ),
            &settings,
            &[
                ("name", "API_TOKEN"),
                ("value", "s3cr3t-t0ken"),
                ("secret", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    add_script(
        &app,
        &pipeline[0],
        "use it",
        "echo \"token is $API_TOKEN\"; echo \"length ${#API_TOKEN}\"",
        30,
    );
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let d = latest(&app, release.id, pipeline[0].id);
    let log = log_of(&app, d.id).join("\n");
    assert!(log.contains("token is ••••"), "{log}");
    assert!(log.contains("length 12"), "the script saw the real value");
    // Nowhere in the database in the clear.
    for sql in [
        "SELECT count(*) AS n FROM deployment_logs WHERE line LIKE '%s3cr3t%'",
        "SELECT count(*) AS n FROM variables WHERE coalesce(value, '') LIKE '%s3cr3t%' OR encode(encrypted, 'escape') LIKE '%s3cr3t%'",
        "SELECT count(*) AS n FROM audit_events WHERE details::text LIKE '%s3cr3t%'",
        "SELECT count(*) AS n FROM releases WHERE snapshot::text LIKE '%s3cr3t%'",
    ] {
        assert_eq!(app.count(sql), 0, "{sql}");
    }
    let stored: Option<String> = variables_table::table
        .select(variables_table::value)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored, None);
    for page in [
        settings.clone(),
        format!("/deployments/{}", d.id),
        format!("/deployments/{}/log.txt", d.id),
    ] {
        let html = app.get_html(&page).await;
        assert!(!html.contains("s3cr3t"), "{page}");
    }
    assert!(app.get_html(&settings).await.contains("••••"));
    let json = app
        .get_html(&format!("/deployments/{}/log.json", d.id))
        .await;
    assert!(!json.contains("s3cr3t") && json.contains("token is ••••"));
}

#[tokio::test]
async fn an_environment_inherits_variables_and_the_deploy_form_shows_what_changes() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    set_var(&app, &pipeline[0], "REGION", "eu-1", false);
    set_var(&app, &pipeline[0], "LOG_LEVEL", "debug", false);
    set_var(&app, &pipeline[1], "LOG_LEVEL", "info", false);
    set_var(&app, &pipeline[1], "DB_PASSWORD", "pw-qa-123", true);
    add_script(
        &app,
        &pipeline[1],
        "show",
        "echo \"$REGION $LOG_LEVEL\"",
        30,
    );
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;

    let html = app
        .get_html(&format!("/projects/{}/releases/1.0.0", project.slug))
        .await;
    assert!(html.contains("Variables in QA (3)"));
    assert!(html.contains("inherited from Development") && html.contains("overridden in QA"));
    assert!(!html.contains("pw-qa-123"));

    let settings = app
        .get_html(&format!(
            "/admin/projects/{}/environments/qa/settings",
            project.slug
        ))
        .await;
    assert!(settings.contains("inherited from</span> Development"));
    assert!(settings.contains("overrides an earlier value"));

    promote(&app, release.id, pipeline[1].id);
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    let log = log_of(&app, latest(&app, release.id, pipeline[1].id).id).join("\n");
    assert!(log.contains("eu-1 info"), "{log}");
}

#[tokio::test]
async fn a_release_runs_the_steps_of_its_snapshot_not_the_current_ones() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    environments::update(
        &mut app.conn(),
        &admin(),
        dev,
        &environments::EnvironmentInput {
            name: "Development".into(),
            url: String::new(),
            trigger: "manual".into(),
        },
    )
    .unwrap();
    add_script(&app, dev, "deploy", "echo version one", 30);
    let old = app.release(&project, "1.0.0");
    let step = steps::list(&mut app.conn(), dev.id).unwrap().remove(0);
    steps::update(
        &mut app.conn(),
        &admin(),
        dev,
        &step,
        &StepInput {
            kind: "script".into(),
            name: "deploy".into(),
            script: "echo version two".into(),
            url: String::new(),
            timeout_seconds: "30".into(),
        },
    )
    .unwrap();
    let new = app.release(&project, "1.1.0");
    for release in [&old, &new] {
        promote(&app, release.id, dev.id);
        app.wait_for(release.id, dev.id, "succeeded").await;
    }
    assert!(log_of(&app, latest(&app, old.id, dev.id).id).contains(&"version one".to_owned()));
    assert!(log_of(&app, latest(&app, new.id, dev.id).id).contains(&"version two".to_owned()));
}

#[tokio::test]
async fn an_environment_runs_as_many_at_once_as_its_policy_allows() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 3).await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    app.queue_policy(dev, "2", "all");
    add_script(&app, dev, "wait", "sleep 1.5", 30);
    for i in 0..3 {
        app.release(&project, &format!("1.0.{i}"));
    }
    let mut most = 0;
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        let running = app.count(&format!("SELECT count(*) AS n FROM deployments WHERE environment_id = {} AND status = 'running'", dev.id));
        most = most.max(running);
        if app.count("SELECT count(*) AS n FROM deployments WHERE status = 'succeeded'") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(most, 2, "two ran at once, never three");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments WHERE status = 'succeeded'"),
        3
    );
}

#[tokio::test]
async fn the_database_refuses_more_running_deployments_than_the_policy_allows() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    app.release(&project, "1.0.0");
    let waiting = app.release(&project, "1.0.1");
    app.claim().unwrap();
    let d = latest(&app, waiting.id, pipeline[0].id);
    let err = diesel::sql_query(format!(
        "UPDATE deployments SET status = 'running' WHERE id = {}",
        d.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(err.to_string().contains("already runs 1"), "{err}");
    assert!(app.claim().is_none());
}

#[tokio::test]
async fn with_the_latest_policy_older_waiting_deployments_are_cancelled() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    app.queue_policy(dev, "1", "latest");
    let releases: Vec<_> = (0..3)
        .map(|i| app.release(&project, &format!("1.0.{i}")))
        .collect();
    let claimed = app.claim().unwrap();
    assert_eq!(claimed.release_id, releases[2].id, "the newest runs");
    for older in &releases[..2] {
        let d = latest(&app, older.id, dev.id);
        assert_eq!(d.status.as_str(), "cancelled");
        assert!(d.note.contains("Superseded"));
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.cancelled'"),
        2
    );
}

#[tokio::test]
async fn a_deployment_whose_worker_died_is_failed_when_its_lease_expires_and_can_be_redeployed() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let d = deployments::claim_next(&mut app.conn(), "doomed", Duration::from_millis(200))
        .unwrap()
        .unwrap();
    assert!(
        deployments::reap_expired(&mut app.conn())
            .unwrap()
            .is_empty(),
        "the lease is still good"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(deployments::reap_expired(&mut app.conn()).unwrap(), [d.id]);
    let d = latest(&app, release.id, pipeline[0].id);
    assert_eq!(d.status.as_str(), "failed");
    assert!(d.note.contains("Worker lost"));
    // The dead worker, were it to come back, cannot record anything.
    assert!(!deployments::finish(&mut app.conn(), "doomed", d.id, &Outcome::Succeeded).unwrap());
    promote(&app, release.id, pipeline[0].id);
    assert_eq!(latest(&app, release.id, pipeline[0].id).attempt, 2);
}

/// A tiny HTTP server: answers each request with the next status, and
/// reports each body it received.
fn webhook_server(statuses: Vec<u16>) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (url, rx)
}

#[tokio::test]
async fn a_webhook_step_posts_the_deployment_and_retries_until_it_succeeds() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let (url, bodies) = webhook_server(vec![500, 200]);
    set_var(&app, &pipeline[0], "TOKEN", "hook-secret-1", true);
    set_var(&app, &pipeline[0], "REGION", "eu", false);
    steps::add(
        &mut app.conn(),
        &admin(),
        &pipeline[0],
        &StepInput {
            kind: "http".into(),
            name: "notify".into(),
            script: String::new(),
            url: url.clone(),
            timeout_seconds: "5".into(),
        },
    )
    .unwrap();
    let release = app.release(&project, "4.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let first: serde_json::Value =
        serde_json::from_str(&bodies.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap();
    assert_eq!(first["release_version"], "4.0.0");
    assert_eq!(first["environment"], "Development");
    assert_eq!(first["variables"]["REGION"], "eu");
    assert!(
        first["variables"].get("TOKEN").is_none(),
        "secrets are not sent"
    );
    assert!(
        bodies.recv_timeout(Duration::from_secs(5)).is_ok(),
        "retried"
    );
    let log = log_of(&app, latest(&app, release.id, pipeline[0].id).id).join("\n");
    assert!(
        log.contains("attempt 1") && log.contains("attempt 2") && log.contains("200"),
        "{log}"
    );
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_fails_the_deployment_after_its_retries() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let (url, _bodies) = webhook_server(vec![503, 503, 503]);
    steps::add(
        &mut app.conn(),
        &admin(),
        &pipeline[0],
        &StepInput {
            kind: "http".into(),
            name: "notify".into(),
            script: String::new(),
            url,
            timeout_seconds: "5".into(),
        },
    )
    .unwrap();
    let release = app.release(&project, "4.0.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    assert!(
        latest(&app, release.id, pipeline[0].id)
            .note
            .contains("HTTP 503 after 3 attempt(s)")
    );
}

#[tokio::test]
async fn the_log_is_capped_with_a_note() {
    let app = crate::helpers::spawn_app_with(|s| s.worker.log_cap = 4096).await;
    let (project, pipeline) = app.project("Shop");
    add_script(
        &app,
        &pipeline[0],
        "chatty",
        "for i in $(seq 1 2000); do echo \"line $i of a very chatty script\"; done",
        30,
    );
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let log = log_of(&app, latest(&app, release.id, pipeline[0].id).id);
    assert!(log.iter().any(|l| l.contains("Log truncated")));
    assert!(log.len() < 200);
}

#[tokio::test]
async fn step_forms_on_the_settings_page_keep_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let settings = format!("/admin/projects/{}/environments/qa/settings", project.slug);
    let response = app
        .post_form(
            &format!("/admin/projects/{}/environments/qa/steps", project.slug),
            &settings,
            &[
                ("kind", "script"),
                ("name", "migrate"),
                ("script", ""),
                ("timeout_seconds", "0"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Enter the script to run.") && html.contains("Use a whole number of seconds")
    );
    assert!(html.contains("value=\"migrate\""));
    let response = app
        .post_form(
            &format!("/admin/projects/{}/environments/qa/steps", project.slug),
            &settings,
            &[
                ("kind", "script"),
                ("name", "migrate"),
                ("script", "./migrate.sh"),
                ("timeout_seconds", "60"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let response = app
        .post_form(
            &format!("/admin/projects/{}/environments/qa/variables", project.slug),
            &settings,
            &[("name", "9bad"), ("value", "x")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Use letters, digits and _")
    );
    let response = app
        .post_form(
            &format!("/admin/projects/{}/environments/qa/policy", project.slug),
            &settings,
            &[("max_running", "50"), ("queue_policy", "all")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(app.count("SELECT count(*) AS n FROM steps"), 1);
}
