use stagecoach::domain::audit::Actor;
use stagecoach::domain::ids::UserId;
use stagecoach::domain::users;

use crate::helpers::{location, new_client, spawn_app};

fn user_id(app: &crate::helpers::TestApp, username: &str) -> UserId {
    users::find_by_username(&mut app.conn(), username)
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn an_admin_creates_a_user_and_a_bad_form_keeps_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let response = app
        .post_form(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "Bad Name"),
                ("display_name", "Bea"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("value=\"Bad Name\"") && html.contains("value=\"Bea\""));
    assert!(html.contains("Use only letters, digits, dots, dashes and underscores."));

    let response = app
        .post_form(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "bea"),
                ("display_name", "Bea"),
                ("password", "bea-password-12"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let bea = user_id(&app, "bea");
    assert_eq!(location(&response), format!("/admin/users/{bea}"));
    assert_eq!(
        app.login_with(&new_client(), "bea", "bea-password-12")
            .await
            .status()
            .as_u16(),
        303
    );

    let response = app
        .post_form(
            "/admin/users",
            "/admin/users",
            &[("username", "bea"), ("password", "another-password-1")],
        )
        .await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This username is taken.")
    );
}

#[tokio::test]
async fn disabling_resetting_and_ending_sessions_sign_the_user_out() {
    let app = spawn_app().await;
    app.login_admin().await;
    app.create_user("cy", "cy-password-123", false);
    let cy = user_id(&app, "cy");
    let page = format!("/admin/users/{cy}");
    let session = new_client();
    let sign_in = |client| {
        let app = &app;
        async move { app.login_with(client, "cy", "cy-password-123").await }
    };

    sign_in(&session).await;
    app.post_form(&format!("{page}/sessions/end"), &page, &[])
        .await;
    assert_eq!(
        app.get_with(&session, "/").await.status().as_u16(),
        303,
        "end sessions"
    );

    sign_in(&session).await;
    app.post_form(&format!("{page}/disable"), &page, &[]).await;
    assert_eq!(
        app.get_with(&session, "/").await.status().as_u16(),
        303,
        "disabled"
    );
    assert_eq!(
        app.login_with(&new_client(), "cy", "cy-password-123")
            .await
            .status()
            .as_u16(),
        200,
        "refused"
    );
    app.post_form(&format!("{page}/enable"), &page, &[]).await;

    sign_in(&session).await;
    let response = app
        .post_form(&format!("{page}/password"), &page, &[("password", "short")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Use at least 12 characters.")
    );
    app.post_form(
        &format!("{page}/password"),
        &page,
        &[("password", "cy-new-password-1")],
    )
    .await;
    assert_eq!(
        app.get_with(&session, "/").await.status().as_u16(),
        303,
        "password reset"
    );
    assert_eq!(
        app.login_with(&new_client(), "cy", "cy-new-password-1")
            .await
            .status()
            .as_u16(),
        303
    );

    for action in [
        "user.sessions_ended",
        "user.disabled",
        "user.enabled",
        "user.password_reset",
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE action = '{action}'"
            )),
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_or_demoted() {
    let app = spawn_app().await;
    app.login_admin().await;
    let admin = user_id(&app, "admin");
    let page = format!("/admin/users/{admin}");
    app.post_form(&format!("{page}/admin"), &page, &[("change", "revoke")])
        .await;
    assert!(
        app.get_html(&page)
            .await
            .contains("This is the last active administrator")
    );
    app.post_form(&format!("{page}/disable"), &page, &[]).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE is_admin AND NOT disabled"),
        1
    );

    // With a second admin, one may step down.
    app.create_user("root2", "root2-password-1", true);
    let response = app
        .post_form(&format!("{page}/admin"), &page, &[("change", "revoke")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE is_admin AND NOT disabled"),
        1
    );
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let second = app.create_user("second", "second-password-1", true);
    let first = user_id(&app, "admin");
    for _ in 0..5 {
        let pool = app.pool.clone();
        let a = std::thread::spawn({
            let pool = pool.clone();
            move || {
                users::set_admin(&mut pool.get().unwrap(), &Actor::system(), first, false).is_ok()
            }
        });
        let b = std::thread::spawn(move || {
            users::set_admin(&mut pool.get().unwrap(), &Actor::system(), second.id, false).is_ok()
        });
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a != b, "exactly one of the two demotions succeeds");
        assert_eq!(
            app.count("SELECT count(*) AS n FROM users WHERE is_admin AND NOT disabled"),
            1
        );
        // Restore both for the next round.
        diesel::RunQueryDsl::execute(
            diesel::sql_query("UPDATE users SET is_admin = true"),
            &mut app.conn(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn teams_are_created_renamed_given_members_and_deleted() {
    let app = spawn_app().await;
    app.login_admin().await;
    app.create_user("dana", "dana-password-1", false);
    let response = app
        .post_form("/admin/teams", "/admin/teams", &[("name", "")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let response = app
        .post_form("/admin/teams", "/admin/teams", &[("name", "Platform")])
        .await;
    let team_page = location(&response);
    assert!(team_page.starts_with("/admin/teams/"));
    let response = app
        .post_form(
            &format!("{team_page}/members"),
            &team_page,
            &[("username", "nobody")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("There is no user with this username.")
    );
    app.post_form(
        &format!("{team_page}/members"),
        &team_page,
        &[("username", "dana")],
    )
    .await;
    app.post_form(
        &format!("{team_page}/rename"),
        &team_page,
        &[("name", "Platform team")],
    )
    .await;
    let html = app.get_html(&team_page).await;
    assert!(html.contains("Platform team") && html.contains("dana"));
    let dana = user_id(&app, "dana");
    app.post_form(
        &format!("{team_page}/members/{dana}/remove"),
        &team_page,
        &[],
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM team_members"), 0);
    let response = app
        .post_form(&format!("{team_page}/delete"), &team_page, &[])
        .await;
    assert_eq!(location(&response), "/admin/teams");
    assert_eq!(app.count("SELECT count(*) AS n FROM teams"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'team.%'"),
        5
    );
}

#[tokio::test]
async fn the_access_page_grants_and_removes_roles_in_a_click() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let eve = app.create_user("eve", "eve-password-12", false);
    let access = format!("/admin/projects/{}/access", project.slug);
    let holder = format!("user:{}", eve.id);
    app.post_form(
        &access,
        &access,
        &[
            ("holder", &holder),
            ("environment", "all"),
            ("role", "viewer"),
        ],
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM grants WHERE role = 'viewer'"),
        4
    );
    let response = app
        .post_form(
            &access,
            &access,
            &[
                ("holder", &holder),
                ("environment", "qa"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        app.get_html(&access)
            .await
            .contains("already holds viewer on QA")
    );
    let html = app.get_html(&access).await;
    assert_eq!(html.matches("Remove viewer on").count(), 4);
    let grant = app.count("SELECT min(id) AS n FROM grants");
    app.post_form(&format!("{access}/{grant}/remove"), &access, &[])
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM grants"), 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'grant.added'"),
        4
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'grant.removed'"),
        1
    );
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_csv() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    app.project("Other");
    for _ in 0..3 {
        app.login_with(&new_client(), "mallory", "=cmd|' /C calc'!A0")
            .await;
    }
    let html = app.get_html("/admin/audit?action=login.failed").await;
    assert_eq!(
        html.matches("<span class=\"action-name\">login.failed</span>")
            .count(),
        3
    );
    assert!(html.contains("127.0.0.1"));
    let html = app
        .get_html(&format!("/admin/audit?project={}", project.slug))
        .await;
    assert!(html.contains("<span class=\"action-name\">project.created</span>"));
    assert!(!html.contains("<span class=\"action-name\">login.failed</span>"));
    assert!(
        html.contains(&format!("href=\"/projects/{}\"", project.slug)),
        "objects are linked"
    );
    let html = app
        .get_html("/admin/audit?actor=mallory&action=login.")
        .await;
    assert!(html.matches("mallory").count() >= 3);
    let html = app.get_html("/admin/audit?from=not-a-date").await;
    assert!(html.contains("Use a date like 2026-11-22."));
    let today = chrono::Utc::now().date_naive();
    let html = app
        .get_html(&format!(
            "/admin/audit?from={today}&to={today}&action=login.failed"
        ))
        .await;
    assert_eq!(
        html.matches("<span class=\"action-name\">login.failed</span>")
            .count(),
        3
    );
    let tomorrow = today.succ_opt().unwrap();
    let html = app.get_html(&format!("/admin/audit?from={tomorrow}")).await;
    assert!(html.contains("No events match."));

    let csv = app.get("/admin/audit.csv?action=login.failed").await;
    assert!(
        csv.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv.text().await.unwrap();
    assert_eq!(body.lines().count(), 4, "{body}");
    assert!(body.starts_with("time,actor,action"));
}

#[tokio::test]
async fn the_audit_log_pages_by_keyset() {
    let app = spawn_app().await;
    app.login_admin().await;
    for i in 0..130 {
        stagecoach::domain::audit::record(
            &mut app.conn(),
            &Actor::system(),
            stagecoach::domain::audit::Event::new("test.event", "test", i),
        )
        .unwrap();
    }
    let first = app.get_html("/admin/audit?action=test.event").await;
    assert_eq!(
        first
            .matches("<span class=\"action-name\">test.event</span>")
            .count(),
        100
    );
    let next = first
        .split("class=\"pager-next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = app.get_html(&next).await;
    assert_eq!(
        second
            .matches("<span class=\"action-name\">test.event</span>")
            .count(),
        30
    );
}

#[tokio::test]
async fn project_members_see_the_project_audit_trail() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    app.release(&project, "1.0.0");
    let viewer = app.create_user("val", "val-password-12", false);
    app.grant(viewer.id, pipeline[0].id, "viewer");
    let client = new_client();
    app.login_with(&client, "val", "val-password-12").await;
    let html = app
        .get_with(&client, &format!("/projects/{}", project.slug))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Audit trail"));
    assert!(html.contains("release.created"));
    assert!(!html.contains("Full log"), "the full log is for admins");
}
