use crate::helpers::{ADMIN_PASSWORD, csrf_token_in, new_client, spawn_app};

#[tokio::test]
async fn a_login_post_without_a_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.get("/login").await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.text().await.unwrap().contains("Form expired"));
    assert_eq!(app.count("SELECT count(*) AS n FROM login_attempts"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        0
    );
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    let attacker = new_client();
    let their_token = app.csrf_token_with(&attacker, "/login").await;
    app.get("/login").await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &their_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.count("SELECT count(*) AS n FROM login_attempts"), 0);
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let token = app.csrf_token_with(&app.client, "/login").await;
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = app
            .client
            .post(app.url("/login"))
            .header(header, value)
            .form(&[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{header}: {value}");
    }
    // The same form from this site goes through.
    let response = app
        .client
        .post(app.url("/login"))
        .header("origin", app.address.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
}

#[tokio::test]
async fn logout_without_a_token_is_refused_and_the_user_stays_signed_in() {
    let app = spawn_app().await;
    app.login_admin().await;
    let response = app
        .client
        .post(app.url("/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.get("/").await.status().as_u16(), 200);
}

#[tokio::test]
async fn every_form_on_the_pages_carries_a_csrf_token() {
    let app = spawn_app().await;
    let login = app.get_html("/login").await;
    app.login_admin().await;
    for html in [
        login,
        app.get_html("/").await,
        app.get_html("/account/password").await,
        app.get_html("/logout").await,
    ] {
        let forms = html.matches("<form").count();
        assert!(forms > 0);
        assert_eq!(
            html.matches(r#"name="csrf_token""#).count(),
            forms,
            "{html}"
        );
        assert!(!csrf_token_in(&html).is_empty());
    }
}

#[tokio::test]
async fn signing_in_issues_a_new_csrf_token() {
    let app = spawn_app().await;
    let before = app.csrf_token_with(&app.client, "/login").await;
    app.login_admin().await;
    let after = app.csrf_token_with(&app.client, "/").await;
    assert_ne!(before, after);
}
