use chrono::{Duration, Utc};
use diesel::prelude::*;
use stagecoach::db::schema::login_attempts;
use stagecoach::routes::login::REFUSED;

use crate::helpers::{ADMIN_PASSWORD, new_client, spawn_app};

#[tokio::test]
async fn five_failures_lock_the_account_even_against_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let response = app.login("admin", "wrong-password-x").await;
        assert!(response.text().await.unwrap().contains(REFUSED));
    }
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200, "refused, not signed in");
    assert!(
        response.text().await.unwrap().contains(REFUSED),
        "same message as a wrong password"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'login.throttled'"),
        1
    );
}

#[tokio::test]
async fn the_lock_is_per_account_and_lifts_after_fifteen_minutes() {
    let app = spawn_app().await;
    app.create_user("frank", "frank-password-1", false);
    // Five failures, the last 15 minutes and a second ago.
    let now = Utc::now();
    for minutes in [20, 19, 18, 17] {
        insert_failure(&app, "admin", now - Duration::minutes(minutes));
    }
    insert_failure(
        &app,
        "admin",
        now - Duration::minutes(15) - Duration::seconds(1),
    );
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status().as_u16(),
        303
    );

    for _ in 0..5 {
        app.login_with(&new_client(), "frank", "nope-nope-nope")
            .await;
    }
    let locked = app
        .login_with(&new_client(), "frank", "frank-password-1")
        .await;
    assert_eq!(locked.status().as_u16(), 200, "frank is locked");
    // Another account is not affected.
    let other = new_client();
    assert_eq!(
        app.login_with(&other, "admin", ADMIN_PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn a_success_resets_the_count_of_failures() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.login_with(&new_client(), "admin", "wrong-password-x")
            .await;
    }
    assert_eq!(
        app.login_with(&new_client(), "admin", ADMIN_PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    for _ in 0..4 {
        app.login_with(&new_client(), "admin", "wrong-password-x")
            .await;
    }
    assert_eq!(
        app.login_with(&new_client(), "admin", ADMIN_PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_throttle() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let client = new_client();
        let token = app.csrf_token_with(&client, "/login").await;
        let url = app.url("/login");
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("username", "admin"),
                    ("password", "guess-guess-guess"),
                    ("csrf_token", &token),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM login_attempts WHERE outcome = 'failure'"),
        5
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM login_attempts WHERE outcome = 'throttled'"),
        7
    );
}

fn insert_failure(app: &crate::helpers::TestApp, username: &str, at: chrono::DateTime<Utc>) {
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::username.eq(username),
            login_attempts::outcome.eq("failure"),
            login_attempts::at.eq(at),
        ))
        .execute(&mut app.conn())
        .unwrap();
}

#[tokio::test]
async fn a_burst_of_logins_does_not_starve_pages_of_database_connections() {
    // One pooled connection, and more logins than it could serve within its
    // 3-second checkout timeout if each held it while hashing (~30 ms each).
    const LOGINS: usize = 200;
    let app = crate::helpers::spawn_app_with(|s| s.db_pool_size = 1).await;
    app.login_admin().await;
    let mut ready = Vec::new();
    for _ in 0..LOGINS {
        let client = new_client();
        let token = app.csrf_token_with(&client, "/login").await;
        ready.push((client, token));
    }
    let mut tasks = Vec::new();
    for (i, (client, token)) in ready.into_iter().enumerate() {
        let url = app.url("/login");
        tasks.push(tokio::spawn(async move {
            let username = format!("nobody-{i}");
            client
                .post(url)
                .form(&[
                    ("username", username.as_str()),
                    ("password", "guess-guess-guess"),
                    ("csrf_token", &token),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    // Let the burst queue up, then ask for pages that need the database.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for path in ["/", "/readyz", "/account/password"] {
        assert_eq!(app.get(path).await.status().as_u16(), 200, "{path}");
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'login.failed'"),
        LOGINS as i64,
        "every attempt is audited"
    );
}
