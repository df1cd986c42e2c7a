//! Event webhooks: a subscription made in the admin pages gets each event
//! it chose, queued in the event's own transaction and sent by the worker,
//! signed per Standard Webhooks (checked here by a receiver that refuses a
//! bad signature or an old timestamp); failures are retried and can be
//! redelivered; the Slack-compatible format posts a line with a link.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;
use stagecoach::domain::webhooks;

use crate::helpers::fixtures::{admin, policy};
use crate::helpers::{TestApp, location, spawn_app};

/// One request the receiver got, and whether its signature verified.
#[derive(Debug)]
struct Received {
    verified: bool,
    fresh: bool,
    id: String,
    body: Value,
}

/// A receiver checking signatures with `secret` (set once known); it
/// answers each request with the next of `statuses` (then 200).
fn receiver(statuses: Vec<u16>) -> (String, std::sync::mpsc::Sender<String>, Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (secret_tx, secret_rx) = std::sync::mpsc::channel::<String>();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        let mut secret = String::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            while let Ok(s) = secret_rx.try_recv() {
                secret = s;
            }
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let (mut length, mut id, mut timestamp, mut signature) =
                (0, String::new(), 0_i64, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or(("", ""));
                let value = value.trim().to_owned();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "webhook-id" => id = value,
                    "webhook-timestamp" => timestamp = value.parse().unwrap_or(0),
                    "webhook-signature" => signature = value,
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let verified = signature
                .split(' ')
                .any(|s| s == webhooks::sign(&secret, &id, timestamp, &body));
            let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
            let status = statuses.next().unwrap_or(200);
            let _ = stream.write_all(
                format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .as_bytes(),
            );
            let _ = tx.send(Received {
                verified,
                fresh,
                id,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            });
        }
    });
    (url, secret_tx, rx)
}

/// Subscribes through the admin form; returns the subscription's page.
async fn subscribe(
    app: &TestApp,
    project: &str,
    url: &str,
    events: &[&str],
    format: &str,
) -> String {
    let page = format!("/admin/projects/{project}/webhooks");
    let mut fields: Vec<(&str, &str)> = vec![("url", url), ("format", format)];
    fields.extend(events.iter().map(|e| ("events", *e)));
    let response = app.post_form(&page, &page, &fields).await;
    assert_eq!(
        response.status().as_u16(),
        303,
        "{}",
        response.text().await.unwrap()
    );
    location(&response)
}

fn secret_on(html: &str) -> String {
    let start = html.find("value=\"whsec_").expect("the secret") + "value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The next request the receiver got, waiting without blocking the app
/// (it runs on this test's runtime).
async fn next(rx: &Receiver<Received>) -> Received {
    for _ in 0..300 {
        if let Ok(got) = rx.try_recv() {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery within 15 s");
}

#[tokio::test]
async fn subscribed_events_arrive_signed_with_links_and_failures_are_retried() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    // The receiver fails the first attempt.
    let (url, secret_tx, rx) = receiver(vec![500]);
    let page = subscribe(
        &app,
        &project.slug,
        &url,
        &[
            "release.created",
            "deployment.awaiting_approval",
            "deployment.succeeded",
        ],
        "standard",
    )
    .await;
    let html = app.get_html(&page).await;
    secret_tx.send(secret_on(&html)).unwrap();

    // A release: queued with it, sent by the worker, failed once; its
    // deployment to Development succeeds meanwhile (events may come in any
    // order across deliveries).
    let release = app.release(&project, "1.0.0");
    let got = [next(&rx).await, next(&rx).await];
    let first = got
        .iter()
        .find(|r| r.body["type"] == "release.created")
        .expect("the release's event");
    assert!(got.iter().all(|r| r.verified && r.fresh), "{got:?}");
    assert_eq!(
        first.body["data"]["url"],
        "https://stagecoach.test/projects/shop/releases/1.0.0"
    );
    let succeeded = got
        .iter()
        .find(|r| r.body["type"] == "deployment.succeeded")
        .expect("the deployment's event");
    assert_eq!(succeeded.body["data"]["environment"], "development");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending' AND attempts = 1 AND last_status_code = 500"),
        1,
        "the failure is recorded and the delivery waits for its retry"
    );
    // Not waiting for the 10 s backoff: an admin sends it again now.
    let delivery = app.count("SELECT id AS n FROM webhook_deliveries WHERE status = 'pending'");
    let response = app
        .post_form(
            &format!("{page}/deliveries/{delivery}/redeliver"),
            &page,
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let again = next(&rx).await;
    assert!(again.verified);
    assert_eq!(
        again.id, first.id,
        "the same message, so a receiver can tell"
    );
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;

    // Waiting for approval: the link an approver follows.
    stagecoach::domain::deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    let waiting = next(&rx).await;
    assert!(waiting.verified);
    assert_eq!(waiting.body["type"], "deployment.awaiting_approval");
    let id = waiting.body["data"]["deployment_id"].as_i64().unwrap();
    assert_eq!(
        waiting.body["data"]["url"],
        format!("https://stagecoach.test/deployments/{id}")
    );
    // The page lists every delivery with its attempts and last answer.
    let html = app.get_html(&page).await;
    assert!(
        html.contains("delivered") && html.contains("<td>2</td>"),
        "{html}"
    );
    // A change that rolls back queues nothing.
    let before = app.count("SELECT count(*) AS n FROM webhook_deliveries");
    let mut conn = app.conn();
    let _ = diesel::Connection::transaction::<(), diesel::result::Error, _>(&mut conn, |conn| {
        stagecoach::domain::releases::create(
            conn,
            &admin(),
            &project,
            &stagecoach::domain::releases::ReleaseInput {
                version: "9.9.9".into(),
                title: "Never".into(),
                ..Default::default()
            },
        )
        .unwrap();
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_deliveries"),
        before
    );
}

#[tokio::test]
async fn a_slack_compatible_subscription_posts_a_line_with_a_link() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let (url, secret_tx, rx) = receiver(vec![]);
    let page = subscribe(&app, &project.slug, &url, &["release.created"], "slack").await;
    secret_tx
        .send(secret_on(&app.get_html(&page).await))
        .unwrap();
    app.release(&project, "2.0.0");
    let got = next(&rx).await;
    assert_eq!(
        got.body["text"],
        "Release 2.0.0 of shop created <https://stagecoach.test/projects/shop/releases/2.0.0>"
    );
    // A form that is not valid comes back with what was typed.
    let list = format!("/admin/projects/{}/webhooks", project.slug);
    let response = app
        .post_form(
            &list,
            &list,
            &[("url", "ftp://nowhere"), ("events", "release.created")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("value=\"ftp://nowhere\"") && html.contains("https://"),
        "{html}"
    );
}

#[tokio::test]
async fn finished_deliveries_are_swept_after_a_month_and_pending_ones_kept() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, _) = app.project("Shop");
    let subscription = webhooks::create(
        &mut app.conn(),
        &admin(),
        &stagecoach::domain::secrets::SecretBox::from_secret_key("test"),
        project.id,
        &webhooks::SubscriptionInput {
            url: "https://hooks.example.com/x".into(),
            events: vec!["release.created".into()],
            format: String::new(),
        },
    )
    .unwrap();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        app.release(&project, version);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM webhook_deliveries"), 3);
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET created_at = now() - interval '31 days', \
                    status = CASE WHEN id = (SELECT min(id) FROM webhook_deliveries) THEN 'pending' ELSE 'delivered' END \
              WHERE subscription_id = {}",
            subscription.id
        )),
        &mut app.conn(),
    )
    .unwrap();
    assert_eq!(webhooks::sweep(&mut app.conn()).unwrap(), 2);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'"),
        1,
        "a delivery still being tried stays"
    );
}

/// The payloads queued for `event`, oldest first.
fn queued(app: &TestApp, event: &str) -> Vec<Value> {
    use diesel::prelude::*;
    use stagecoach::db::schema::webhook_deliveries;
    webhook_deliveries::table
        .filter(webhook_deliveries::event.eq(event))
        .order(webhook_deliveries::id.asc())
        .select(webhook_deliveries::payload)
        .load::<Value>(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn blocks_verification_and_manual_steps_are_events_too() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (url, _secret, _rx) = receiver(vec![]);
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    subscribe(
        &app,
        &project.slug,
        &url,
        &[
            "release.blocked",
            "release.unblocked",
            "deployment.verifying",
            "deployment.waiting_for_person",
        ],
        "standard",
    )
    .await;
    stagecoach::domain::checks::add(
        &mut app.conn(),
        &admin(),
        dev,
        &stagecoach::domain::checks::CheckInput {
            kind: "script".into(),
            name: "smoke".into(),
            script: "true".into(),
            ..stagecoach::domain::checks::CheckInput::blank()
        },
    )
    .unwrap();
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "succeeded").await;
    let verifying = queued(&app, "deployment.verifying");
    assert_eq!(verifying.len(), 1, "{verifying:?}");
    assert_eq!(verifying[0]["data"]["version"], "1.0.0");
    assert_eq!(verifying[0]["data"]["state"], "running");

    stagecoach::domain::blocks::block(&mut app.conn(), &admin(), release.id, "Data loss").unwrap();
    stagecoach::domain::blocks::unblock(&mut app.conn(), &admin(), release.id).unwrap();
    let blocked = queued(&app, "release.blocked");
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["data"]["reason"], "Data loss");
    assert_eq!(blocked[0]["data"]["blocked_by"], "Administrator");
    assert_eq!(queued(&app, "release.unblocked").len(), 1);

    stagecoach::domain::steps::add(
        &mut app.conn(),
        &admin(),
        dev,
        &stagecoach::domain::steps::StepInput {
            kind: "manual".into(),
            name: "Look at the dashboards".into(),
            script: "Error rates flat?".into(),
            url: String::new(),
            timeout_seconds: "60".into(),
        },
    )
    .unwrap();
    let waiting = app.release(&project, "1.1.0");
    for _ in 0..200 {
        if !queued(&app, "deployment.waiting_for_person").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let person = queued(&app, "deployment.waiting_for_person");
    assert_eq!(person.len(), 1);
    assert_eq!(person[0]["data"]["instructions"], "Error rates flat?");
    assert_eq!(person[0]["data"]["step"], "Look at the dashboards");
    stagecoach::domain::deployments::cancel(
        &mut app.conn(),
        &admin(),
        stagecoach::domain::ids::DeploymentId(app.count("SELECT max(id) AS n FROM deployments")),
    )
    .unwrap();
    // Stopped before the test ends, or its worker would wait out the step.
    app.wait_for(waiting.id, dev.id, "cancelled").await;
}
