//! Soak time: a release starts in an environment only so long after it
//! succeeded in the previous one. The request says when (not_before and
//! the readiness checklist); the database holds every start to it.

use diesel::prelude::*;
use stagecoach::db::schema::deployments;
use stagecoach::domain::deployments::{self as domain, DeployInput};

use crate::helpers::fixtures::admin;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_release_soaks_in_the_previous_environment_before_it_may_start() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let qa = &pipeline[1];
    // Set through the admin's form; a bad value comes back beside its field.
    let settings = "/admin/projects/shop/environments/qa/settings";
    let form = |soak: &'static str| {
        vec![
            ("max_running", "1"),
            ("queue_policy", "all"),
            ("approval_timeout_hours", "168"),
            ("required_approvals", "0"),
            ("soak_minutes", soak),
        ]
    };
    let response = app
        .post_form(
            "/admin/projects/shop/environments/qa/policy",
            settings,
            &form("99999"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Use a whole number of minutes from 0 to 10,080"));
    assert!(html.contains("value=\"99999\""));
    let response = app
        .post_form(
            "/admin/projects/shop/environments/qa/policy",
            settings,
            &form("30"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);

    let release = app.release(&project, "1.0.0");
    let first = app.succeed_next();
    let queued = domain::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    )
    .unwrap();
    let not_before = queued.not_before.expect("when it may start");
    let succeeded_at = app.count(&format!(
        "SELECT extract(epoch FROM finished_at)::bigint AS n FROM deployments WHERE id = {}",
        first.id
    ));
    assert!((not_before.timestamp() - succeeded_at - 30 * 60).abs() <= 1);
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(
        html.contains("Soaking in Development: may start here"),
        "{html}"
    );

    // Nothing starts it early: not the workers, and not a start that
    // clears its not-before behind the app's back.
    assert!(app.claim().is_none());
    diesel::update(deployments::table.find(queued.id))
        .set(deployments::not_before.eq(None::<chrono::DateTime<chrono::Utc>>))
        .execute(&mut app.conn())
        .unwrap();
    assert!(app.claim().is_none());
    let err = diesel::sql_query(format!(
        "UPDATE deployments SET status = 'running', started_at = now() WHERE id = {}",
        queued.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(err.to_string().contains("may not start now"), "{err}");

    // Half an hour later (the clock moved by moving the success back).
    diesel::sql_query(format!(
        "UPDATE deployments SET finished_at = finished_at - interval '31 minutes' WHERE id = {}",
        first.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(html.contains("Soaked 30 minutes in Development"), "{html}");
    let started = app.claim().expect("it may start now");
    assert_eq!(started.id, queued.id);
    assert_eq!(started.environment_id, qa.id);
}
