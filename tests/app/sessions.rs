use std::time::Duration;

use sha2::{Digest, Sha256};
use stagecoach::domain::audit::Actor;
use stagecoach::domain::users;

use crate::helpers::{
    ADMIN_PASSWORD, location, new_client, session_cookie, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn logout_ends_the_session_and_a_replayed_cookie_gets_the_login_page() {
    let app = spawn_app().await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    let cookie = session_cookie(&response).unwrap();
    assert_eq!(app.get("/").await.status().as_u16(), 200);

    let response = app.post_form("/logout", "/", &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?signed_out=1");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        0
    );

    // Someone who copied the cookie before logout gets nothing from it.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = replay
        .get(app.url("/"))
        .header("cookie", format!("stagecoach={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn the_session_table_holds_only_a_hash_of_the_key() {
    let app = spawn_app().await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    let cookie = session_cookie(&response).unwrap();
    // A signed cookie is the base64 MAC (percent-encoded, ending in `=`)
    // followed by the value: a 256-bit key, hex-encoded.
    let (mac, key) = cookie.split_at(cookie.len() - 64);
    assert!(mac.ends_with("%3D"), "{cookie}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{cookie}");
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE key_hash = '{hash}'"
        )),
        1
    );
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM sessions WHERE key_hash = '{key}' OR state::text LIKE '%{key}%'")), 0);
}

#[tokio::test]
async fn disabling_a_user_ends_all_their_sessions_at_once() {
    let app = spawn_app().await;
    let dave = app.create_user("dave", "dave-password-1", false);
    let laptop = new_client();
    let phone = new_client();
    app.login_with(&laptop, "dave", "dave-password-1").await;
    app.login_with(&phone, "dave", "dave-password-1").await;
    assert_eq!(app.get_with(&laptop, "/").await.status().as_u16(), 200);
    assert_eq!(app.get_with(&phone, "/").await.status().as_u16(), 200);

    users::set_disabled(&mut app.conn(), &Actor::system(), dave.id, true).unwrap();

    for client in [&laptop, &phone] {
        let response = app.get_with(client, "/").await;
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(location(&response), "/login");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sessions WHERE user_id = {}",
            dave.id
        )),
        0
    );
}

#[tokio::test]
async fn a_password_change_made_anywhere_ends_every_session_of_that_user() {
    let app = spawn_app().await;
    let erin = app.create_user("erin", "erin-password-1", false);
    let laptop = new_client();
    let phone = new_client();
    app.login_with(&laptop, "erin", "erin-password-1").await;
    app.login_with(&phone, "erin", "erin-password-1").await;

    // Even a change that bypasses the app's code (a DBA's UPDATE) ends them:
    // the rule is a trigger.
    let hash = stagecoach::crypto::password::hash("erin-password-2").unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE users SET password_hash = '{hash}' WHERE id = {}",
            erin.id
        )),
        &mut app.conn(),
    )
    .unwrap();
    for client in [&laptop, &phone] {
        assert_eq!(app.get_with(client, "/").await.status().as_u16(), 303);
    }
}

#[tokio::test]
async fn a_session_ends_after_the_idle_timeout() {
    let app = spawn_app_with(|s| s.session.idle_timeout = Duration::from_secs(3)).await;
    app.login_admin().await;
    assert_eq!(app.get("/").await.status().as_u16(), 200);
    // Two pauses that add up to more than the timeout, each shorter...
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(app.get("/").await.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    // ...keep the session: activity pushes the idle expiry forward.
    assert_eq!(app.get("/").await.status().as_u16(), 200);
    // A pause longer than the timeout ends it.
    tokio::time::sleep(Duration::from_millis(3600)).await;
    assert_eq!(app.get("/").await.status().as_u16(), 303);
}

#[tokio::test]
async fn a_session_ends_after_the_absolute_timeout_however_active() {
    let app = spawn_app_with(|s| s.session.absolute_timeout = Duration::from_secs(3)).await;
    app.login_admin().await;
    for _ in 0..2 {
        assert_eq!(app.get("/").await.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.get("/").await.status().as_u16(), 303);
}

/// The `Set-Cookie` header of `response` that sets the cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", response.headers()))
}

#[tokio::test]
async fn the_cookies_are_http_only_with_path_and_no_domain_and_the_session_one_same_site_lax() {
    let app = spawn_app().await;
    let page = app.get("/login").await;
    assert!(session_cookie(&page).is_none(), "no session before sign-in");
    let login = set_cookie(&page, "stagecoach-login");
    for header in [login.clone(), {
        let response = app.login("admin", ADMIN_PASSWORD).await;
        set_cookie(&response, "stagecoach")
    }] {
        assert!(header.contains("HttpOnly"), "{header}");
        assert!(header.contains("Path=/"), "{header}");
        assert!(!header.contains("Domain"), "{header}");
        assert!(!header.contains("Secure"), "{header}");
    }
    assert!(login.contains("SameSite=Strict"), "{login}");
    let response = app.get("/").await;
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn with_secure_cookies_the_cookies_are_secure_with_the_host_prefix_and_hsts_is_sent() {
    let app = spawn_app_with(|s| s.secure_cookies = true).await;
    // A client that keeps no cookies: over plain HTTP it would drop Secure ones.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(app.url("/login")).send().await.unwrap();
    let hsts = page
        .headers()
        .get("strict-transport-security")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(hsts.contains("max-age=31536000"));
    let login = set_cookie(&page, "__Host-stagecoach-login");
    let token = crate::helpers::csrf_token_in(&page.text().await.unwrap());
    let response = client
        .post(app.url("/login"))
        .header("cookie", login.split(';').next().unwrap())
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    for header in [login, set_cookie(&response, "__Host-stagecoach")] {
        assert!(header.contains("Secure"), "{header}");
        assert!(header.contains("Path=/"), "{header}");
        assert!(!header.contains("Domain"), "{header}");
    }
}

#[tokio::test]
async fn visitors_who_do_not_sign_in_write_no_session_rows() {
    let app = spawn_app().await;
    let before = app.count("SELECT count(*) AS n FROM sessions");
    let cookieless = reqwest::Client::new();
    for _ in 0..100 {
        let response = cookieless.get(app.url("/login")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM sessions"), before);
    // A refused sign-in writes no session either; a successful one does.
    app.login("admin", "wrong-password-x").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sessions"), before);
    app.login_admin().await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sessions"), before + 1);
}
