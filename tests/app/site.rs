//! Where a request comes from: the Origin check compares with the public URL
//! (or the Host header), never with forwarding headers from an untrusted
//! peer; client addresses in the audit follow the same rule.

use stagecoach::auth::site::Site;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};

/// POSTs the admin's credentials with a fresh login token and `headers`.
async fn login_with_headers(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let token = app.csrf_token_with(&app.client, "/login").await;
    let mut request = app.client.post(app.url("/login")).form(&[
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("csrf_token", &token),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn signed_in_sessions(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL")
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_make_another_origin_pass() {
    let app = spawn_app().await;
    for headers in [
        vec![
            ("origin", "http://evil.example"),
            ("x-forwarded-host", "evil.example"),
        ],
        vec![
            ("origin", "http://evil.example"),
            ("forwarded", "host=evil.example;proto=http"),
        ],
    ] {
        let response = login_with_headers(&app, &headers).await;
        assert_eq!(response.status().as_u16(), 403, "{headers:?}");
        assert!(response.text().await.unwrap().contains("Form expired"));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM login_attempts"), 0);
    assert_eq!(signed_in_sessions(&app), 0);
}

#[tokio::test]
async fn a_trusted_proxy_s_forwarded_host_is_the_site() {
    let app = spawn_app_with(|s| s.site = Site::new(None, "127.0.0.1/32").unwrap()).await;
    // Through the proxy, the site is the host it forwards...
    let response = login_with_headers(
        &app,
        &[
            ("origin", "https://stagecoach.example"),
            ("x-forwarded-host", "stagecoach.example"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    // ...and not the address the proxy used to reach the app.
    let app = spawn_app_with(|s| s.site = Site::new(None, "127.0.0.1/32").unwrap()).await;
    let response = login_with_headers(
        &app,
        &[
            ("origin", &app.address),
            ("x-forwarded-host", "stagecoach.example"),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn the_public_url_is_the_only_origin_when_configured() {
    let app = spawn_app_with(|s| {
        s.site = Site::new(Some("https://stagecoach.example/"), "").unwrap();
    })
    .await;
    for origin in [
        app.address.as_str(),
        "http://stagecoach.example",
        "https://stagecoach.example:8443",
        "https://evil.example",
    ] {
        let response = login_with_headers(&app, &[("origin", origin)]).await;
        assert_eq!(response.status().as_u16(), 403, "{origin}");
    }
    let response = login_with_headers(&app, &[("origin", "https://stagecoach.example")]).await;
    assert_eq!(response.status().as_u16(), 303);
}

#[tokio::test]
async fn audit_addresses_come_from_forwarding_headers_only_through_a_trusted_proxy() {
    let app = spawn_app().await;
    let response = login_with_headers(&app, &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events \
             WHERE action = 'login.succeeded' AND client_addr = '127.0.0.1'"
        ),
        1
    );

    let app = spawn_app_with(|s| s.site = Site::new(None, "127.0.0.0/8").unwrap()).await;
    // The client's own claim (198.51.100.7) is left of the hop the proxy
    // saw; a second trusted hop on the right is skipped.
    let response = login_with_headers(
        &app,
        &[("x-forwarded-for", "198.51.100.7, 203.0.113.9, 127.0.0.2")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events \
             WHERE action = 'login.succeeded' AND client_addr = '203.0.113.9'"
        ),
        1
    );
}
