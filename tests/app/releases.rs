use diesel::RunQueryDsl;
use stagecoach::domain::deployments::{self, DeployError, DeployInput};

use crate::helpers::fixtures::admin;
use crate::helpers::{location, new_client, spawn_app};

#[tokio::test]
async fn creating_a_release_through_the_form_snapshots_the_pipeline_and_deploys_to_the_first_environment()
 {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let form_path = format!("/projects/{}/releases/new", project.slug);
    let sha = "a".repeat(64);
    let response = app
        .post_form(
            &form_path,
            &form_path,
            &[
                ("version", "2.4.0"),
                ("title", "Faster checkout"),
                ("description", "Line one\n<script>alert(1)</script>"),
                ("artifact_name", "web"),
                ("artifact_reference", "registry.example/shop/web:2.4.0"),
                ("artifact_url", "https://registry.example/shop/web"),
                ("artifact_sha256", &sha),
                ("artifact_name", ""),
                ("artifact_reference", ""),
                ("artifact_url", ""),
                ("artifact_sha256", ""),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        location(&response),
        format!("/projects/{}/releases/2.4.0", project.slug)
    );

    let release = stagecoach::domain::releases::find(&mut app.conn(), project.id, "2.4.0")
        .unwrap()
        .unwrap();
    assert_eq!(
        release.snapshot["environments"].as_array().unwrap().len(),
        4
    );
    assert_eq!(release.first_environment_id, pipeline[0].id);
    assert_eq!(
        stagecoach::domain::releases::artifacts(&mut app.conn(), release.id)
            .unwrap()
            .len(),
        1
    );
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;

    let html = app.get_html(&location(&response)).await;
    assert!(html.contains("Faster checkout"));
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "description is escaped"
    );
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("Promote to QA"));
    for action in [
        "release.created",
        "deployment.requested",
        "deployment.started",
        "deployment.succeeded",
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
async fn a_bad_release_form_comes_back_with_everything_typed_and_each_error_beside_its_field() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    app.release(&project, "1.0.0");
    let form_path = format!("/projects/{}/releases/new", project.slug);
    let response = app
        .post_form(
            &form_path,
            &form_path,
            &[
                ("version", "1.0.0"),
                ("title", ""),
                ("description", "keep me"),
                ("artifact_name", "api"),
                ("artifact_reference", ""),
                ("artifact_url", "ftp://nope"),
                ("artifact_sha256", "xyz"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Shop already has a release 1.0.0."));
    assert!(html.contains("Enter a title."));
    assert!(html.contains("Enter a version or reference."));
    assert!(html.contains("Enter a URL starting with https://"));
    assert!(html.contains("A SHA-256 is 64 hexadecimal characters."));
    for kept in [
        "value=\"1.0.0\"",
        ">keep me</textarea>",
        "value=\"api\"",
        "value=\"ftp://nope\"",
        "value=\"xyz\"",
    ] {
        assert!(html.contains(kept), "{kept} not kept");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);

    let response = app
        .post_form(
            &form_path,
            &form_path,
            &[("version", "bad version!"), ("title", "x")],
        )
        .await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Use only letters, digits and . _ + -")
    );
}

#[tokio::test]
async fn more_artifact_rows_keeps_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let form_path = format!("/projects/{}/releases/new", project.slug);
    let response = app
        .post_form(
            &form_path,
            &form_path,
            &[
                ("version", "3.0.0"),
                ("title", "Big one"),
                ("artifact_name", "web"),
                ("more_rows", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("value=\"3.0.0\"") && html.contains("value=\"web\""));
    assert_eq!(html.matches("name=\"artifact_name\"").count(), 4);
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 0);
}

#[tokio::test]
async fn promotion_links_environment_releases_and_carries_a_changed_label_to_production() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "2.4.0-rc.3");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let page = format!("/projects/{}/releases/2.4.0-rc.3", project.slug);
    let deploy = format!("{page}/deploy");

    for (env, label) in [("qa", ""), ("staging", ""), ("production", "2.4.0")] {
        let response = app
            .post_form(
                &deploy,
                &page,
                &[
                    ("environment", env),
                    ("version_label", label),
                    ("comment", "ship it"),
                ],
            )
            .await;
        assert_eq!(response.status().as_u16(), 303, "deploying to {env}");
        let env_id = pipeline.iter().find(|e| e.slug == env).unwrap().id;
        app.wait_for(release.id, env_id, "succeeded").await;
    }
    let facts = stagecoach::domain::release_view::facts(&mut app.conn(), release.id).unwrap();
    let timeline =
        stagecoach::domain::releases::timeline(&mut app.conn(), &release, &pipeline, &facts)
            .unwrap();
    let labels: Vec<Option<String>> = timeline.iter().map(|s| s.label.clone()).collect();
    assert_eq!(
        labels,
        [
            Some("2.4.0-rc.3".to_owned()),
            Some("2.4.0-rc.3".to_owned()),
            Some("2.4.0-rc.3".to_owned()),
            Some("2.4.0".to_owned())
        ]
    );
    assert_eq!(
        timeline[3].promoted_from,
        Some(("Staging".to_owned(), "2.4.0-rc.3".to_owned()))
    );
    assert_eq!(
        timeline[1].promoted_from,
        Some(("Development".to_owned(), "2.4.0-rc.3".to_owned()))
    );
    assert!(timeline.iter().all(|s| s.live));

    let html = app.get_html(&page).await;
    assert!(html.contains("Promoted from Staging"));
    assert!(
        html.contains("Deployed to Production: a promoted release can&#39;t be deleted")
            || html.contains("Deployed to Production: a promoted release can&#x27;t be deleted")
            || html.contains("Deployed to Production: a promoted release can't be deleted"),
        "{html}"
    );
    assert!(!html.contains("id=\"delete-release\""));
    let dashboard = app.get_html("/").await;
    assert!(dashboard.contains(">2.4.0</a>"));
}

#[tokio::test]
async fn a_release_enters_an_environment_only_after_success_in_the_previous_one() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "staging"), ("comment", "skip QA")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("1.0.0 has not succeeded in QA yet"));
    assert_eq!(app.status(release.id, pipeline[2].id), None);

    // A bad label on an allowed promotion comes back beside its field, with
    // what was typed.
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[
                ("environment", "qa"),
                ("version_label", "bad label!"),
                ("comment", "for QA"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Use only letters, digits and . _ + -"));
    assert!(
        html.contains("value=\"bad label!\"") && html.contains("value=\"for QA\""),
        "typed values are kept"
    );
    assert_eq!(app.status(release.id, pipeline[1].id), None);

    // The database refuses it too, whatever the path.
    let err = deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: pipeline[2].id,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, DeployError::Refused(_)));
    let er: i64 = app.count(&format!(
        "SELECT id AS n FROM environment_releases WHERE release_id = {} LIMIT 1",
        release.id
    ));
    let sql = format!(
        "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status) VALUES ({er}, {}, {}, 9, 'queued')",
        release.id, pipeline[2].id
    );
    let err = diesel::sql_query(sql).execute(&mut app.conn()).unwrap_err();
    assert!(err.to_string().contains("only after it succeeded"), "{err}");
}

#[tokio::test]
async fn deploying_an_older_release_is_a_rollback_and_says_so() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let old = app.release(&project, "1.0.0");
    let new = app.release(&project, "1.1.0");
    app.wait_for(old.id, pipeline[0].id, "succeeded").await;
    app.wait_for(new.id, pipeline[0].id, "succeeded").await;
    for release in [&old, &new] {
        let out = deployments::request(
            &mut app.conn(),
            &admin(),
            release.id,
            &DeployInput {
                environment_id: pipeline[1].id,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!out.is_rollback);
        app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    }
    // 1.1.0 is live in QA; deploying 1.0.0 there again rolls back.
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let html = app.get_html(&page).await;
    assert!(html.contains("Deploy again to QA"));
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "qa"), ("comment", "bad 1.1.0")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for(old.id, pipeline[1].id, "succeeded").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments WHERE is_rollback"),
        1
    );
    let html = app
        .get_html(&format!("/projects/{}/environments/qa", project.slug))
        .await;
    assert!(html.contains("badge-rollback"));
    let html = app.get_html(&page).await;
    assert!(html.contains("#2") && html.contains("rollback"));
}

#[tokio::test]
async fn a_failed_deployment_can_be_redeployed_as_a_new_numbered_attempt() {
    let app = spawn_app_without_worker().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let claimed = app.claim().unwrap();
    app.finish(claimed.id, &deployments::Outcome::Failed("test".into()));
    assert_eq!(
        app.status(release.id, pipeline[0].id).as_deref(),
        Some("failed")
    );

    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    assert!(
        app.get_html(&page)
            .await
            .contains("Redeploy to Development")
    );
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "development")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT max(attempt)::bigint AS n FROM deployments"),
        2
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments WHERE status = 'failed'"),
        1,
        "the failed attempt is kept"
    );
    // A second request while one is queued is refused, not doubled.
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "development")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(app.count("SELECT count(*) AS n FROM deployments"), 2);
}

#[tokio::test]
async fn only_one_deployment_runs_at_a_time_in_an_environment() {
    let app = spawn_app_without_worker().await;
    let (project, _) = app.project("Shop");
    app.release(&project, "1.0.0");
    app.release(&project, "1.0.1");
    let first = app.claim();
    assert!(first.is_some());
    assert!(app.claim().is_none(), "the environment is busy");
    app.finish(first.unwrap().id, &deployments::Outcome::Succeeded);
    assert!(app.claim().is_some());
    let err =
        diesel::sql_query("UPDATE deployments SET status = 'queued' WHERE status = 'succeeded'")
            .execute(&mut app.conn())
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot go from succeeded to queued")
    );
}

#[tokio::test]
async fn a_user_without_the_deployer_role_is_told_why_and_a_forged_post_changes_nothing() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let viewer = app.create_user("vera", "vera-password-1", false);
    app.grant(viewer.id, pipeline[1].id, "viewer");
    let client = new_client();
    app.login_with(&client, "vera", "vera-password-1").await;
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let html = app.get_with(&client, &page).await.text().await.unwrap();
    assert!(html.contains("Needs the deployer role on QA."));
    assert!(!html.contains("Promote to QA"));
    let response = app
        .post_form_with(
            &client,
            &format!("{page}/deploy"),
            &page,
            &[("environment", "qa")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You need the deployer role on QA to deploy there.")
    );
    assert_eq!(app.status(release.id, pipeline[1].id), None);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied'"),
        1
    );

    // Someone with no grant in the project does not even learn it exists.
    app.create_user("nora", "nora-password-1", false);
    let stranger = new_client();
    app.login_with(&stranger, "nora", "nora-password-1").await;
    assert_eq!(app.get_with(&stranger, &page).await.status().as_u16(), 404);
    assert_eq!(
        app.get_with(&stranger, &format!("/projects/{}", project.slug))
            .await
            .status()
            .as_u16(),
        404
    );
    assert!(
        !app.get_with(&stranger, "/")
            .await
            .text()
            .await
            .unwrap()
            .contains("Shop")
    );
}

async fn spawn_app_without_worker() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await
}

/// Every path that asks for a deployment goes through
/// `deployments::request`, which checks the person's deployer roles as far
/// as the chain goes and audits a refusal that nothing else outlives.
#[tokio::test]
async fn a_request_beyond_the_persons_roles_is_refused_audited_and_changes_nothing() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.succeed_next();
    let dora = app.create_user("dora", "dora-password-1", false);
    app.grant(dora.id, pipeline[1].id, "deployer");
    let dora = crate::helpers::fixtures::person(&dora);
    let denied = |app: &crate::helpers::TestApp| {
        app.count(
            "SELECT count(*) AS n FROM audit_events \
              WHERE action = 'access.denied' AND details->>'action' = 'deploy'",
        )
    };

    let as_far_as_staging = DeployInput {
        environment_id: pipeline[1].id,
        target_environment_id: Some(pipeline[2].id),
        ..Default::default()
    };
    match deployments::request(&mut app.conn(), &dora, release.id, &as_far_as_staging) {
        Err(DeployError::Denied(message)) => assert_eq!(
            message,
            "You need the deployer role on Staging to deploy as far as Staging."
        ),
        other => panic!("expected a refusal, got {:?}", other.map(|d| d.id)),
    }
    assert_eq!(app.status(release.id, pipeline[1].id), None);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM environment_releases"),
        1,
        "only Development's entry"
    );
    assert_eq!(denied(&app), 1);

    let just_qa = DeployInput {
        environment_id: pipeline[1].id,
        ..Default::default()
    };
    let made = deployments::request(&mut app.conn(), &dora, release.id, &just_qa).unwrap();
    assert_eq!(made.environment_id, pipeline[1].id);
    assert_eq!(denied(&app), 1, "an allowed request audits no refusal");
}
