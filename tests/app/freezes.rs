//! Deployment freezes and break-glass overrides.

use chrono::Utc;
use diesel::RunQueryDsl;
use stagecoach::domain::audit::Actor;
use stagecoach::domain::freezes::{self, FreezeInput};
use stagecoach::domain::ids::{DeploymentId, EnvironmentId};

use crate::helpers::fixtures::admin;
use crate::helpers::spawn_app;

fn once(environment: &str, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> FreezeInput {
    FreezeInput {
        environment: environment.into(),
        reason: "End-of-year freeze".into(),
        kind: "once".into(),
        starts_at: from.format("%Y-%m-%dT%H:%M").to_string(),
        ends_at: to.format("%Y-%m-%dT%H:%M").to_string(),
        time_zone: "UTC".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn nothing_starts_in_a_frozen_environment_and_the_page_says_which_freeze_holds() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let now = Utc::now();
    let freeze = freezes::add(
        &mut app.conn(),
        &admin(),
        project.id,
        &pipeline,
        &once(
            "",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(5),
        ),
    )
    .unwrap();
    app.release(&project, "1.0.0");
    assert!(app.claim().is_none(), "the whole project is frozen");
    let held = freezes::holding(&mut app.conn(), pipeline[0].id, Utc::now()).unwrap();
    assert_eq!(held.map(|f| f.id), Some(freeze.id));
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(html.contains("Frozen: End-of-year freeze"), "{html}");
    let d = DeploymentId(app.count("SELECT id AS n FROM deployments"));
    assert!(
        app.get_html(&format!("/deployments/{d}"))
            .await
            .contains("id=\"freeze-note\"")
    );
    freezes::remove(&mut app.conn(), &admin(), project.id, freeze.id).unwrap();
    assert!(app.claim().is_some());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'freeze.%'"),
        2
    );
}

#[tokio::test]
async fn a_recurring_freeze_holds_on_its_days_and_hours_in_its_time_zone() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    // Fridays from 16:00 to Monday 08:00 would be two freezes; here: Fridays 16:00-23:59 in New York.
    freezes::add(
        &mut app.conn(),
        &admin(),
        project.id,
        &pipeline,
        &FreezeInput {
            environment: "production".into(),
            reason: "No Friday deploys".into(),
            kind: "recurring".into(),
            days: vec!["5".into()],
            start_time: "16:00".into(),
            end_time: "23:59".into(),
            time_zone: "America/New_York".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let frozen = |env: EnvironmentId, at: &str| {
        app.count(&format!("SELECT (environment_freeze(e, '{at}'::timestamptz) IS NOT NULL)::int::bigint AS n FROM environments e WHERE id = {env}")) == 1
    };
    let prod = pipeline[3].id;
    assert!(
        frozen(prod, "2026-11-27 22:00:00+00"),
        "Friday 17:00 in New York"
    );
    assert!(
        !frozen(prod, "2026-11-27 20:00:00+00"),
        "Friday 15:00 in New York"
    );
    assert!(!frozen(prod, "2026-11-28 22:00:00+00"), "Saturday");
    assert!(
        !frozen(pipeline[2].id, "2026-11-27 22:00:00+00"),
        "only Production"
    );
}

#[tokio::test]
async fn break_glass_needs_a_reason_and_a_second_approver_and_is_marked() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let a = app.create_user("ada", "ada-password-123", false);
    let b = app.create_user("bob", "bob-password-123", false);
    for u in [&a, &b] {
        app.grant(u.id, pipeline[0].id, "approver");
    }
    let now = Utc::now();
    freezes::add(
        &mut app.conn(),
        &admin(),
        project.id,
        &pipeline,
        &once(
            "development",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        ),
    )
    .unwrap();
    app.release(&project, "1.0.0");
    let d = DeploymentId(app.count("SELECT id AS n FROM deployments"));
    let ada = Actor::user(a.id, "ada", false, None);
    let bob = Actor::user(b.id, "bob", false, None);
    assert!(
        freezes::request_override(&mut app.conn(), &ada, d, "  ").is_err(),
        "a reason is required"
    );
    freezes::request_override(&mut app.conn(), &ada, d, "Payment outage hotfix").unwrap();
    assert!(
        freezes::confirm_override(&mut app.conn(), &ada, d).is_err(),
        "not by the one who asked"
    );
    assert!(app.claim().is_none());
    // The database holds the two-person rule too.
    let err = diesel::sql_query(format!(
        "UPDATE deployments SET override_confirmed_by = {} WHERE id = {d}",
        a.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(
        err.to_string().contains("deployments_override_two_people"),
        "{err}"
    );
    freezes::confirm_override(&mut app.conn(), &bob, d).unwrap();
    assert_eq!(app.claim().unwrap().id, d);
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(html.contains("badge-override"));
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action IN ('deployment.override_requested', 'deployment.override_confirmed')"), 2);
}

#[tokio::test]
async fn break_glass_through_the_deployment_page() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let a = app.create_user("ada", "ada-password-123", false);
    let b = app.create_user("bob", "bob-password-123", false);
    for u in [&a, &b] {
        app.grant(u.id, pipeline[0].id, "approver");
    }
    let now = Utc::now();
    freezes::add(
        &mut app.conn(),
        &admin(),
        project.id,
        &pipeline,
        &once(
            "",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        ),
    )
    .unwrap();
    let release = app.release(&project, "1.0.0");
    let d = DeploymentId(app.count("SELECT id AS n FROM deployments"));
    let page = format!("/deployments/{d}");
    let ada = crate::helpers::new_client();
    app.login_with(&ada, "ada", "ada-password-123").await;
    assert!(
        app.get_with(&ada, &page)
            .await
            .text()
            .await
            .unwrap()
            .contains("Break glass")
    );
    app.post_form_with(
        &ada,
        &format!("{page}/override"),
        &page,
        &[("reason", "Security fix")],
    )
    .await;
    let bob = crate::helpers::new_client();
    app.login_with(&bob, "bob", "bob-password-123").await;
    assert!(
        app.get_with(&bob, &page)
            .await
            .text()
            .await
            .unwrap()
            .contains("id=\"confirm-override\"")
    );
    app.post_form_with(&bob, &format!("{page}/override/confirm"), &page, &[])
        .await;
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
}

#[tokio::test]
async fn the_freeze_form_keeps_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let url = format!("/admin/projects/{}/freezes", project.slug);
    let response = app
        .post_form(
            &url,
            &url,
            &[
                ("reason", "Holidays"),
                ("kind", "once"),
                ("starts_at", "2026-12-24T00:00"),
                ("ends_at", "2026-12-20T00:00"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("The freeze must end after it starts.")
            && html.contains("value=\"Holidays\"")
    );
    let response = app
        .post_form(
            &url,
            &url,
            &[
                ("reason", "Holidays"),
                ("kind", "once"),
                ("starts_at", "2026-12-20T00:00"),
                ("ends_at", "2026-12-27T00:00"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        app.get_html(&url)
            .await
            .contains("Dec 20, 2026 00:00 – Dec 27, 2026 00:00 UTC")
    );
}
