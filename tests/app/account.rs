use crate::helpers::{ADMIN_PASSWORD, location, new_client, spawn_app};

#[tokio::test]
async fn the_password_page_needs_a_signed_in_user() {
    let app = spawn_app().await;
    let response = app.get("/account/password").await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).starts_with("/login"));
}

#[tokio::test]
async fn each_mistake_in_a_password_change_is_shown_beside_its_field() {
    let app = spawn_app().await;
    app.login_admin().await;
    let response = app
        .post_form(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "not-the-password"),
                ("new_password", "short"),
                ("confirm_password", "different"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"id="current_password-error""#));
    assert!(html.contains("That is not your current password."));
    assert!(html.contains(r#"id="new_password-error""#));
    assert!(html.contains("Use at least 12 characters."));
    assert!(html.contains(r#"id="confirm_password-error""#));
    // Nothing changed: the old password still works elsewhere.
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
async fn a_new_password_over_128_characters_is_refused() {
    let app = spawn_app().await;
    app.login_admin().await;
    let long = "p".repeat(129);
    let response = app
        .post_form(
            "/account/password",
            "/account/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", &long),
                ("confirm_password", &long),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Use at most 128 characters.")
    );
}

#[tokio::test]
async fn changing_the_password_signs_out_everywhere_and_only_the_new_one_works() {
    let app = spawn_app().await;
    app.login_admin().await;
    let other_device = new_client();
    app.login_with(&other_device, "admin", ADMIN_PASSWORD).await;

    let new_password = "a brand new passphrase";
    let response = app
        .post_form(
            "/account/password",
            "/account/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?changed=1");
    assert_eq!(app.get("/").await.status().as_u16(), 303);
    assert_eq!(
        app.get_with(&other_device, "/").await.status().as_u16(),
        303
    );
    assert!(
        app.get_html("/login?changed=1")
            .await
            .contains("Your password was changed")
    );

    assert_eq!(
        app.login_with(&new_client(), "admin", ADMIN_PASSWORD)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.login_with(&new_client(), "admin", new_password)
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.password_changed'"),
        1
    );
}
