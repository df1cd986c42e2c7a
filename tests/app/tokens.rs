//! API tokens and service accounts through the pages: making a token shows
//! its secret once and keeps only its hash, revoking stops it, an admin
//! sees and revokes anyone's and sets the longest lifetime, and a service
//! account holds tokens but can never sign in.

use serde_json::Value;

use crate::helpers::{TestApp, location, spawn_app};

/// The secret a page shows once, if it shows one.
fn secret_in(html: &str) -> Option<String> {
    let start = html.find("value=\"stgc_")? + "value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn api_status(app: &TestApp, secret: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/api/v1/projects"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_user_makes_a_token_sees_it_once_uses_it_and_revokes_it() {
    let app = spawn_app().await;
    app.create_user("dana", "dana-password-123", false);
    assert_eq!(
        app.login("dana", "dana-password-123")
            .await
            .status()
            .as_u16(),
        303
    );

    let page = app.get_html("/account/tokens").await;
    assert!(page.contains("No tokens yet."));

    // A bad lifetime: the form again, with what was typed and the error.
    let response = app
        .post_form(
            "/account/tokens",
            "/account/tokens",
            &[("name", "GitHub <Actions>"), ("lifetime_days", "9999")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("A token may live at most 365 days here."),
        "{html}"
    );
    assert!(
        html.contains("value=\"GitHub &#60;Actions&#62;\"")
            || html.contains("value=\"GitHub &lt;Actions&gt;\"")
    );
    assert!(secret_in(&html).is_none());
    assert_eq!(app.count("SELECT count(*) AS n FROM api_tokens"), 0);

    let response = app
        .post_form(
            "/account/tokens",
            "/account/tokens",
            &[
                ("name", "GitHub Actions"),
                ("roles", "deployer"),
                ("roles", "viewer"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    let secret = secret_in(&html).expect("the secret, shown once");
    assert!(html.contains("shown this once"));
    // The database keeps its hash, never the secret.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM api_tokens WHERE secret_hash = sha256('{secret}'::bytea) \
             AND roles = ARRAY['deployer', 'viewer'] AND expires_at > now() + interval '89 days'"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE details::text LIKE '%{secret}%'"
        )),
        0,
        "no secret in the audit trail"
    );
    // The list shows it, never the secret again.
    let list = app.get_html("/account/tokens").await;
    assert!(list.contains("GitHub Actions"));
    assert!(
        list.contains("every project, deployer + viewer only"),
        "{list}"
    );
    assert!(secret_in(&list).is_none());

    assert_eq!(api_status(&app, &secret).await, 200);
    let id = app.count("SELECT id AS n FROM api_tokens");
    let response = app
        .post_form(
            &format!("/account/tokens/{id}/revoke"),
            "/account/tokens",
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/account/tokens");
    assert!(app.get_html("/account/tokens").await.contains("revoked"));
    assert_eq!(api_status(&app, &secret).await, 401);
}

#[tokio::test]
async fn nobody_revokes_someone_elses_token_but_an_admin() {
    let app = spawn_app().await;
    let owner = app.create_user("owner", "owner-password-123", false);
    app.create_user("other", "other-password-123", false);
    let issued = stagecoach::domain::tokens::create(
        &mut app.conn(),
        &crate::helpers::fixtures::person(&owner),
        owner.id,
        &stagecoach::domain::tokens::NewToken {
            name: "mine".into(),
            ..Default::default()
        },
    )
    .unwrap();
    app.login("other", "other-password-123").await;
    let response = app
        .post_form(
            &format!("/account/tokens/{}/revoke", issued.id),
            "/account/tokens",
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        app.get_html("/account/tokens")
            .await
            .contains("There is no such token of yours.")
    );
    assert_eq!(api_status(&app, &issued.secret).await, 200);

    // An admin sees every active token and revokes it.
    let admin = crate::helpers::new_client();
    app.login_with(&admin, "admin", crate::helpers::ADMIN_PASSWORD)
        .await;
    let page = app
        .get_with(&admin, "/admin/tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("owner") && page.contains("mine"), "{page}");
    let response = app
        .post_form_with(
            &admin,
            &format!("/admin/tokens/{}/revoke", issued.id),
            "/admin/tokens",
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(api_status(&app, &issued.secret).await, 401);

    // And sets the longest lifetime, with the form kept on a bad value.
    let response = app
        .post_form_with(
            &admin,
            "/admin/tokens/settings",
            "/admin/tokens",
            &[("max_days", "0")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.text().await.unwrap().contains("value=\"0\""));
    let response = app
        .post_form_with(
            &admin,
            "/admin/tokens/settings",
            "/admin/tokens",
            &[("max_days", "30")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT token_max_lifetime_days::bigint AS n FROM site_settings"),
        30
    );
}

#[tokio::test]
async fn a_service_account_holds_tokens_and_grants_but_never_signs_in() {
    let app = spawn_app().await;
    app.login_admin().await;
    let response = app
        .post_form(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "ci-shop"),
                ("display_name", "CI for the shop"),
                ("is_service", "1"),
            ],
        )
        .await;
    assert_eq!(
        response.status().as_u16(),
        303,
        "{}",
        response.text().await.unwrap()
    );
    let user_page = location(&response);
    let page = app.get_html(&user_page).await;
    assert!(page.contains("service account"));
    assert!(page.contains("New API token"));
    assert!(!page.contains("Reset password"));

    // Its token, made by the admin on its page.
    let response = app
        .post_form(
            &format!("{user_page}/tokens"),
            &user_page,
            &[("name", "GitLab CI")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let secret = secret_in(&response.text().await.unwrap()).expect("the secret");
    let (status, body) = {
        let response = reqwest::Client::new()
            .get(app.url("/api/v1/projects"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(
        body["projects"].as_array().unwrap().len(),
        0,
        "no grants yet"
    );

    // No password opens it, and the database refuses it a session.
    let guest = crate::helpers::new_client();
    let response = app.login_with(&guest, "ci-shop", "!service-account").await;
    assert_ne!(location(&response), "/");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'login.failed' AND details->>'reason' = 'service_account'"),
        1
    );
    let id = app.count("SELECT id AS n FROM users WHERE username = 'ci-shop'");
    let refused = diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO sessions (key_hash, state, user_id, expires_at, absolute_expires_at) \
             VALUES ('x', '{{}}', {id}, now() + interval '1 hour', now() + interval '1 day')"
        )),
        &mut app.conn(),
    );
    assert_eq!(
        stagecoach::db::violated_check(&refused.expect_err("refused")),
        Some("sessions_no_service_accounts")
    );
    // It cannot be made an administrator.
    let response = app
        .post_form(
            &format!("/admin/users/{id}/admin"),
            &user_page,
            &[("change", "grant")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        app.get_html(&user_page)
            .await
            .contains("cannot be an administrator")
    );
    // A person's page offers no token form: they make their own.
    let response = app
        .post_form("/admin/users/1/tokens", "/admin/users/1", &[("name", "x")])
        .await;
    assert_eq!(response.status().as_u16(), 409);
}
