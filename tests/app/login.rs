use std::time::{Duration, Instant};

use stagecoach::domain::audit;

use crate::helpers::{ADMIN_PASSWORD, csrf_token_in, location, session_cookie, spawn_app};

#[tokio::test]
async fn the_login_page_has_username_password_and_csrf_fields() {
    let app = spawn_app().await;
    let html = app.get_html("/login").await;
    assert!(html.contains(r#"name="username""#));
    assert!(html.contains(r#"name="password""#));
    assert_eq!(csrf_token_in(&html).len(), 64);
}

#[tokio::test]
async fn signing_in_redirects_home_and_renews_the_session_id() {
    let app = spawn_app().await;
    let login_page = app.get("/login").await;
    assert!(
        session_cookie(&login_page).is_none(),
        "no session (so no id to fix) before sign-in"
    );
    let html = login_page.text().await.unwrap();
    let token = csrf_token_in(&html);

    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/");
    let first = session_cookie(&response).expect("login sets a session cookie");

    let home = app.get_html("/").await;
    assert!(
        home.contains("Administrator"),
        "the header names the signed-in user"
    );

    // Signing in again from a session gets a new session id.
    let response = app
        .post_form(
            "/login",
            "/",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let second = session_cookie(&response).expect("a new session cookie");
    assert_ne!(first, second, "the session id must change at login");
}

#[tokio::test]
async fn usernames_are_not_case_sensitive() {
    let app = spawn_app().await;
    let response = app.login("  ADMIN ", ADMIN_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer_in_about_the_same_time() {
    let app = spawn_app().await;
    app.create_user("bob", "bob-password-123", false);
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.login("bob", "not-bobs-password").await;
        wrong.push(started.elapsed());
        assert_eq!(response.status().as_u16(), 200);
        bodies.push(response.text().await.unwrap());

        let started = Instant::now();
        let response = app.login("nobody-here", "not-bobs-password").await;
        unknown.push(started.elapsed());
        assert_eq!(response.status().as_u16(), 200);
        bodies.push(response.text().await.unwrap());
    }
    let message = stagecoach::routes::login::REFUSED;
    for body in &bodies {
        assert!(body.contains(message));
    }
    // Each attempt includes fetching the form; an unknown user must still
    // pay for a password hash, so its time cannot collapse to near zero.
    let fastest_wrong: Duration = *wrong.iter().min().unwrap();
    let fastest_unknown: Duration = *unknown.iter().min().unwrap();
    assert!(
        fastest_unknown * 3 > fastest_wrong,
        "unknown user answered in {fastest_unknown:?}, wrong password in {fastest_wrong:?}"
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_sees_the_generic_message() {
    let app = spawn_app().await;
    let carol = app.create_user("carol", "carol-password-1", false);
    stagecoach::domain::users::set_disabled(
        &mut app.conn(),
        &audit::Actor::system(),
        carol.id,
        true,
    )
    .unwrap();
    let response = app.login("carol", "carol-password-1").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains(stagecoach::routes::login::REFUSED)
    );
}

#[tokio::test]
async fn empty_fields_come_back_with_errors_beside_them_and_the_username_kept() {
    let app = spawn_app().await;
    let response = app.login("someone<b>", "").await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter your password."));
    assert!(html.contains(r#"id="password-error""#));
    // Kept, and escaped.
    assert!(
        html.contains(r#"value="someone&#60;b&#62;""#)
            || html.contains(r#"value="someone&lt;b&gt;""#),
        "{html}"
    );
}

#[tokio::test]
async fn every_login_attempt_is_an_audit_event() {
    let app = spawn_app().await;
    app.login("admin", "wrong-password-here").await;
    app.login("ghost", "wrong-password-here").await;
    app.login_admin().await;
    let events = audit::recent(&mut app.conn(), 10).unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor_name.as_str()))
        .collect();
    assert!(
        actions.contains(&("login.succeeded", "admin")),
        "{actions:?}"
    );
    assert!(actions.contains(&("login.failed", "admin")), "{actions:?}");
    assert!(actions.contains(&("login.failed", "ghost")), "{actions:?}");
    let failed = events.iter().find(|e| e.actor_name == "ghost").unwrap();
    assert_eq!(failed.details["reason"], "unknown_user");
    assert_eq!(failed.client_addr.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn signing_in_returns_to_the_page_asked_for_but_never_to_another_site() {
    let app = spawn_app().await;
    let response = app.get("/account/password").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?next=%2Faccount%2Fpassword");

    let html = app.get_html("/login?next=%2Faccount%2Fpassword").await;
    assert!(html.contains(r#"name="next" value="/account/password""#));
    let response = app
        .post_form(
            "/login",
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "/account/password"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account/password");

    let other = crate::helpers::new_client();
    let response = app
        .post_form_with(
            &other,
            "/login",
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/");
}
