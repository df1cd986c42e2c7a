//! Webhook steps against hostile answers: redirects are not followed, the
//! address policy refuses internal addresses unless allowed, and the log
//! keeps at most the status line and 500 characters of the body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use diesel::prelude::*;
use stagecoach::db::schema::{deployment_logs, deployments, steps as steps_table};
use stagecoach::domain::environments::Environment;
use stagecoach::domain::ids::{EnvironmentId, ReleaseId};
use stagecoach::domain::steps::{self, StepInput};
use stagecoach::worker::address_policy::AddressPolicy;

use crate::helpers::fixtures::admin;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A loopback HTTP server answering its requests, in order, with `answers`
/// (raw HTTP responses), and reporting the path of each request it got.
fn server(answers: Vec<String>) -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for answer in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let _ = tx.send(path);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (base, rx)
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A webhook step to `url` that is tried once (no retries, no backoff).
fn add_hook(app: &TestApp, env: &Environment, url: &str) {
    let step = steps::add(
        &mut app.conn(),
        &admin(),
        env,
        &StepInput {
            kind: "http".into(),
            name: "notify".into(),
            script: String::new(),
            url: url.to_owned(),
            timeout_seconds: "5".into(),
        },
    )
    .unwrap();
    diesel::update(steps_table::table.find(step.id))
        .set(steps_table::retries.eq(0))
        .execute(&mut app.conn())
        .unwrap();
}

fn log_and_note(
    app: &TestApp,
    release_id: ReleaseId,
    environment_id: EnvironmentId,
) -> (String, String) {
    let (id, note): (i64, String) = deployments::table
        .filter(deployments::release_id.eq(release_id))
        .filter(deployments::environment_id.eq(environment_id))
        .order(deployments::id.desc())
        .select((deployments::id, deployments::note))
        .first(&mut app.conn())
        .unwrap();
    let lines: Vec<String> = deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(id))
        .order(deployment_logs::id.asc())
        .select(deployment_logs::line)
        .load(&mut app.conn())
        .unwrap();
    (lines.join("\n"), note)
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_and_is_not_followed() {
    let app = spawn_app().await;
    let (internal, internal_hits) = server(vec![answer("200 OK", "", "internal secrets")]);
    let (external, _) = server(vec![answer(
        "302 Found",
        &format!("location: {internal}/admin\r\n"),
        "",
    )]);
    let (project, pipeline) = app.project("Shop");
    add_hook(&app, &pipeline[0], &format!("{external}/hook"));
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    assert!(
        internal_hits
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "the redirect target was reached"
    );
    let (log, note) = log_and_note(&app, release.id, pipeline[0].id);
    assert!(log.contains("302"), "{log}");
    assert!(!log.contains("internal secrets"), "{log}");
    assert!(note.contains("HTTP 302"), "{note}");
}

#[tokio::test]
async fn the_log_keeps_the_status_line_and_at_most_500_characters_of_the_body() {
    let app = spawn_app().await;
    // 60 lines of 50 characters; "é" is two bytes, so the limit must count
    // characters.
    let body: String = (0..60)
        .map(|i| format!("é{i:04}{}\n", "x".repeat(45)))
        .collect();
    let (base, _) = server(vec![answer("200 OK", "", &body)]);
    let (project, pipeline) = app.project("Shop");
    add_hook(&app, &pipeline[0], &format!("{base}/hook"));
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let (log, _) = log_and_note(&app, release.id, pipeline[0].id);
    let kept: Vec<&str> = log.lines().filter(|l| l.starts_with('é')).collect();
    let chars: usize = kept.iter().map(|l| l.chars().count()).sum();
    assert!(!kept.is_empty(), "{log}");
    assert!(chars <= 500, "{chars} characters of the body kept");
    assert!(log.contains("200"), "{log}");
}

#[tokio::test]
async fn a_loopback_webhook_is_refused_by_the_default_policy_and_allowed_when_configured() {
    let app = spawn_app_with(|s| s.worker.webhook_policy = AddressPolicy::default()).await;
    let (base, hits) = server(vec![answer("200 OK", "", "ok")]);
    let (project, pipeline) = app.project("Shop");
    add_hook(&app, &pipeline[0], &format!("{base}/hook"));
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    assert!(hits.recv_timeout(Duration::from_millis(300)).is_err());
    let (log, note) = log_and_note(&app, release.id, pipeline[0].id);
    assert!(
        log.contains("127.0.0.1 is refused by the webhook address policy"),
        "{log}"
    );
    assert!(note.contains("refused"), "{note}");

    // The same server is reached once an admin allows loopback.
    let app = spawn_app_with(|s| {
        s.worker.webhook_policy = AddressPolicy::parse("127.0.0.0/8", "").unwrap()
    })
    .await;
    let (project, pipeline) = app.project("Shop");
    add_hook(&app, &pipeline[0], &format!("{base}/hook"));
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    assert_eq!(hits.recv_timeout(Duration::from_secs(5)).unwrap(), "/hook");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_too() {
    let app = spawn_app_with(|s| s.worker.webhook_policy = AddressPolicy::default()).await;
    let (base, hits) = server(vec![answer("200 OK", "", "ok")]);
    let port = base.rsplit(':').next().unwrap();
    let (project, pipeline) = app.project("Shop");
    add_hook(&app, &pipeline[0], &format!("http://localhost:{port}/hook"));
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    assert!(hits.recv_timeout(Duration::from_millis(300)).is_err());
    let (log, _) = log_and_note(&app, release.id, pipeline[0].id);
    assert!(
        log.contains("refused by the webhook address policy"),
        "{log}"
    );
}
