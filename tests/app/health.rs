use std::time::{Duration, Instant};

use stagecoach::db::local_pg::LocalPostgres;
use stagecoach::startup::Application;

use crate::helpers::{csrf_token_in, new_client, spawn_app, test_settings};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_ready_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn readyz_answers_503_quickly_while_the_database_is_stopped_and_recovers() {
    // A cluster of its own, so stopping it disturbs no other test.
    let dir = tempdir("readyz");
    let cluster = LocalPostgres::start(&dir, true).expect("starting a cluster");
    cluster.create_database("stagecoach").unwrap();
    let app = Application::build(test_settings(&cluster.database_url("stagecoach")))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = new_client();

    assert_eq!(
        client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // The login form needs no database (nothing is stored for visitors);
    // signing in does.
    let login_page = client.get(format!("{url}/login")).send().await.unwrap();
    let token = csrf_token_in(&login_page.text().await.unwrap());

    // Someone already signed in: their session's load is the first thing
    // to fail, inside the session middleware rather than a handler.
    let signed_in = new_client();
    let form = signed_in.get(format!("{url}/login")).send().await.unwrap();
    let form_token = csrf_token_in(&form.text().await.unwrap());
    let signing_in = signed_in
        .post(format!("{url}/login"))
        .form(&[
            ("username", "admin"),
            ("password", crate::helpers::ADMIN_PASSWORD),
            ("csrf_token", &form_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signing_in.status().as_u16(), 303);

    cluster.force_stop().unwrap();
    let started = Instant::now();
    let response = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // The API answers 503 JSON within 2 s (the token cannot be looked up).
    let started = Instant::now();
    let api = client
        .get(format!("{url}/api/v1/projects"))
        .bearer_auth("stgc_any")
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(api.status().as_u16(), 503);
    assert!(took < Duration::from_secs(2), "the API took {took:?}");
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(body["message"].is_string(), "{body}");
    // Pages that need the database answer 503 too, within 2 s, not a
    // hang or a 500.
    let started = Instant::now();
    let page = client
        .post(format!("{url}/login"))
        .form(&[
            ("username", "admin"),
            ("password", "whatever-password"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the sign-in took {:?}",
        started.elapsed()
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("cannot reach its database")
    );
    let started = Instant::now();
    let dashboard = signed_in.get(format!("{url}/")).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the dashboard took {:?}",
        started.elapsed()
    );
    assert_eq!(
        dashboard.status().as_u16(),
        503,
        "a signed-in page whose session cannot be loaded"
    );
    assert_eq!(
        client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    let cluster = LocalPostgres::start(&dir, true).expect("restarting the cluster");
    let mut ready = false;
    for _ in 0..20 {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    cluster.force_stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ready, "the app did not recover once the database was back");
}

/// A fresh directory under the target's temporary directory.
pub fn tempdir(label: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{label}-{}",
        stagecoach::crypto::random::token_hex(4)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
