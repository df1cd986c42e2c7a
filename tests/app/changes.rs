//! "What changes": the release notes, artifacts, variables and steps a
//! promotion changes, read directly and through the compare page the
//! release page links to; secret values never shown.

use stagecoach::domain::changes::{self, Change};
use stagecoach::domain::releases::{self, ArtifactInput, ReleaseInput};
use stagecoach::domain::steps::{self, StepInput};
use stagecoach::domain::variables;

use crate::helpers::fixtures::{add_script, admin, policy, set_var};
use crate::helpers::{TestApp, new_client, spawn_app, spawn_app_with};

fn release(
    app: &TestApp,
    project: &stagecoach::domain::projects::Project,
    version: &str,
    artifacts: &[(&str, &str)],
) -> releases::Release {
    releases::create(
        &mut app.conn(),
        &admin(),
        project,
        &ReleaseInput {
            version: version.into(),
            title: format!("Title of {version}"),
            description: format!("Notes of {version}"),
            artifacts: artifacts
                .iter()
                .map(|(name, reference)| ArtifactInput {
                    name: (*name).into(),
                    reference: (*reference).into(),
                    ..Default::default()
                })
                .collect(),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_comparison_lists_notes_artifacts_variables_and_steps_and_never_a_secret() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = policy(&app, &pipeline[0], |p| p.trigger = "manual".into());
    let qa = &pipeline[1];
    set_var(&app, &dev, "LOG_LEVEL", "info", false);
    set_var(&app, qa, "API_KEY", "first-secret", true);
    set_var(&app, qa, "REGION", "eu", false);
    let region = variables::list(&mut app.conn(), qa.id)
        .unwrap()
        .into_iter()
        .find(|v| v.name == "REGION")
        .unwrap();
    let migrate = add_script(&app, qa, "Migrate", "./migrate.sh", 60);
    let check = |name: &str, every: &str| stagecoach::domain::checks::CheckInput {
        name: name.into(),
        url: "https://qa.shop.example/health".into(),
        interval_seconds: every.into(),
        ..stagecoach::domain::checks::CheckInput::blank()
    };
    let health =
        stagecoach::domain::checks::add(&mut app.conn(), &admin(), qa, &check("health", "10"))
            .unwrap();
    let old = release(
        &app,
        &project,
        "1.0.0",
        &[("web", "web:1"), ("worker", "worker:1")],
    );

    set_var(&app, &dev, "LOG_LEVEL", "debug", false);
    set_var(&app, qa, "API_KEY", "second-secret", true);
    variables::remove(&mut app.conn(), &admin(), qa, region.id).unwrap();
    set_var(&app, qa, "FEATURE_X", "on", false);
    steps::update(
        &mut app.conn(),
        &admin(),
        qa,
        &migrate,
        &StepInput {
            kind: "script".into(),
            name: "Migrate".into(),
            script: "./migrate.sh --safe".into(),
            url: String::new(),
            timeout_seconds: "60".into(),
        },
    )
    .unwrap();
    add_script(&app, qa, "Smoke test", "./smoke.sh", 60);
    stagecoach::domain::checks::remove(&mut app.conn(), &admin(), qa, health.id).unwrap();
    for (name, every) in [("health", "30"), ("latency", "10")] {
        stagecoach::domain::checks::add(&mut app.conn(), &admin(), qa, &check(name, every))
            .unwrap();
    }
    release(
        &app,
        &project,
        "1.1.0",
        &[("web", "web:2"), ("worker", "worker:1")],
    );
    let new = release(
        &app,
        &project,
        "1.2.0",
        &[("web", "web:3"), ("cli", "cli:1")],
    );

    let changes = changes::compare(&mut app.conn(), Some(&old), &new, qa.id).unwrap();
    assert!(!changes.backwards);
    let versions: Vec<&str> = changes.notes.iter().map(|n| n.version.as_str()).collect();
    assert_eq!(versions, ["1.2.0", "1.1.0"]);
    assert_eq!(changes.notes[0].description, "Notes of 1.2.0");
    let artifacts: Vec<(&str, &str)> = changes
        .artifacts
        .iter()
        .map(|c| (c.kind(), c.subject().name.as_str()))
        .collect();
    assert_eq!(
        artifacts,
        [("added", "cli"), ("changed", "web"), ("removed", "worker")]
    );
    let variables: Vec<(&str, &str)> = changes
        .variables
        .iter()
        .map(|c| (c.kind(), c.subject().name.as_str()))
        .collect();
    assert_eq!(
        variables,
        [
            ("changed", "API_KEY"),
            ("added", "FEATURE_X"),
            ("changed", "LOG_LEVEL"),
            ("removed", "REGION")
        ]
    );
    let Change::Changed { before, after } = &changes.variables[0] else {
        panic!("API_KEY changed");
    };
    assert!(before.secret);
    assert_eq!(
        (before.shown.as_deref(), after.shown.as_deref()),
        (None, None)
    );
    let Change::Changed { before, after } = &changes.variables[2] else {
        panic!("LOG_LEVEL changed");
    };
    assert_eq!(
        (before.shown.as_deref(), after.shown.as_deref()),
        (Some("info"), Some("debug"))
    );
    let steps: Vec<(&str, &str)> = changes
        .steps
        .iter()
        .map(|c| (c.kind(), c.subject().name.as_str()))
        .collect();
    assert_eq!(steps, [("changed", "Migrate"), ("added", "Smoke test")]);
    let checks: Vec<(&str, &str)> = changes
        .checks
        .iter()
        .map(|c| (c.kind(), c.subject().name.as_str()))
        .collect();
    assert_eq!(checks, [("changed", "health"), ("added", "latency")]);
    // The other way is a rollback: the same notes, taken back out.
    let back = changes::compare(&mut app.conn(), Some(&new), &old, qa.id).unwrap();
    assert!(back.backwards);
    assert_eq!(back.notes.len(), 2);
    // Nothing changes between a release and itself.
    let same = changes::compare(&mut app.conn(), Some(&new), &new, qa.id).unwrap();
    assert!(same.is_empty() && same.notes.is_empty());
}

#[tokio::test]
async fn the_release_page_links_what_each_promotion_changes() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    set_var(&app, qa, "API_KEY", "first-secret-value", true);
    let old = app.release(&project, "1.0.0");
    app.wait_for(old.id, dev.id, "succeeded").await;
    let page = "/projects/shop/releases/1.0.0";
    app.post_form(&format!("{page}/deploy"), page, &[("environment", "qa")])
        .await;
    app.wait_for(old.id, qa.id, "succeeded").await;
    set_var(&app, qa, "API_KEY", "second-secret-value", true);
    let new = app.release(&project, "1.1.0");
    app.wait_for(new.id, dev.id, "succeeded").await;

    let html = app.get_html("/projects/shop/releases/1.1.0").await;
    let link = "/projects/shop/compare?from=1.0.0&amp;to=1.1.0&amp;environment=qa";
    assert!(html.contains(link), "{html}");
    let html = app
        .get_html("/projects/shop/compare?from=1.0.0&to=1.1.0&environment=qa")
        .await;
    assert!(html.contains("Going out to QA"), "{html}");
    assert!(html.contains("API_KEY") && html.contains("badge-secret"));
    assert!(!html.contains("first-secret-value") && !html.contains("second-secret-value"));

    // The API's release answer carries the same, values left out.
    let secret = crate::api::token(&app, crate::helpers::fixtures::ADMIN_ID, "", &[]);
    let (status, body) =
        crate::api::get(&app, "/api/v1/projects/shop/releases/1.1.0", &secret).await;
    assert_eq!(status, 200);
    let qa_changes = &body["environments"][1]["changes"];
    assert_eq!(qa_changes["from"], "1.0.0", "{body}");
    assert_eq!(qa_changes["notes"][0]["version"], "1.1.0");
    assert_eq!(
        qa_changes["variables"],
        serde_json::json!([{"name": "API_KEY", "change": "changed", "secret": true}])
    );
    assert!(
        body["environments"][0]["changes"].is_null(),
        "live in Development already"
    );

    // A release that is not there: the form again, the error beside it.
    let html = app
        .get_html("/projects/shop/compare?from=0.0.1&to=1.1.0&environment=qa")
        .await;
    assert!(html.contains("id=\"from-error\""), "{html}");
    assert!(html.contains("value=\"0.0.1\""));

    // Someone without a role in QA sees what changed, not the values.
    set_var(&app, qa, "REGION", "eu-west", false);
    let third = app.release(&project, "1.2.0");
    app.wait_for(third.id, dev.id, "succeeded").await;
    let viewer = app.create_user("viewer", "viewer-password-1", false);
    app.grant(viewer.id, dev.id, "viewer");
    let client = new_client();
    app.login_with(&client, "viewer", "viewer-password-1").await;
    let html = app
        .get_with(
            &client,
            "/projects/shop/compare?from=1.0.0&to=1.2.0&environment=qa",
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("REGION"), "{html}");
    assert!(!html.contains("eu-west"));
}
