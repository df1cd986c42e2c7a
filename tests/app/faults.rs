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
