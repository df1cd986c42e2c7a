//! "Do not promote": blocking a release with a reason, what it cancels,
//! what it refuses on every path (forms, chains, the database itself), who
//! may block and unblock, and a race of blocks against promotions.

use diesel::prelude::*;
use stagecoach::domain::blocks;
use stagecoach::domain::deployments::{self, DeployInput};

use crate::helpers::fixtures::{admin, person, policy};
use crate::helpers::{new_client, spawn_app, spawn_app_with};

const PAGE: &str = "/projects/shop/releases/1.0.0";

#[tokio::test]
async fn a_blocked_release_goes_nowhere_new_until_it_is_unblocked() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    policy(&app, qa, |p| p.required_approvals = "1".into());
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "succeeded").await;
    let response = app
        .post_form(&format!("{PAGE}/deploy"), PAGE, &[("environment", "qa")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.status(release.id, qa.id).as_deref(),
        Some("awaiting_approval")
    );

    // A forged POST (no CSRF token) blocks nothing.
    let response = app
        .client
        .post(app.url(&format!("{PAGE}/block")))
        .form(&[("reason", "forged")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(app.count("SELECT count(*) AS n FROM release_blocks"), 0);

    // No reason: the page again, the error beside the field.
    let response = app
        .post_form(&format!("{PAGE}/block"), PAGE, &[("reason", "   ")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Say why it must not go further."), "{html}");
    assert!(html.contains("id=\"reason-error\""));

    let response = app
        .post_form(
            &format!("{PAGE}/block"),
            PAGE,
            &[(
                "reason",
                "Memory leak in checkout <script>alert(1)</script>",
            )],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    // What waited in QA is cancelled, with why, and every change audited.
    assert_eq!(app.status(release.id, qa.id).as_deref(), Some("cancelled"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'release.blocked' AND details->>'reason' LIKE 'Memory leak%'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.cancelled' AND details->>'because' = 'release blocked'"),
        1
    );
    let html = app.get_html(PAGE).await;
    assert!(html.contains("Blocked: do not promote."), "{html}");
    assert!(
        html.contains("Memory leak in checkout &#60;script&#62;"),
        "escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("Blocked by Administrator: nothing new until it is unblocked."));
    assert!(!html.contains("Promote to QA"));
    assert!(html.contains("id=\"unblock-release\""));
    // The list and the dashboard say so too.
    let list = app.get_html("/projects/shop/releases").await;
    assert!(list.contains("badge-blocked"), "{list}");
    let dashboard = app.get_html("/").await;
    assert!(dashboard.contains("badge-blocked"), "{dashboard}");

    // The form is refused, with the reason; Development (where it
    // succeeded) may have it again.
    let response = app
        .post_form(&format!("{PAGE}/deploy"), PAGE, &[("environment", "qa")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("1.0.0 is blocked by Administrator: Memory leak"),
        "{html}"
    );
    let response = app
        .post_form(
            &format!("{PAGE}/deploy"),
            PAGE,
            &[("environment", "development")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for(release.id, dev.id, "succeeded").await;

    // The database refuses whatever slips past the domain.
    let err = diesel::sql_query(format!(
        "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status, requested_by, cause)
         SELECT er.id, er.release_id, {}, 9, 'queued', 1, 'person'
           FROM environment_releases er WHERE er.release_id = {} AND er.environment_id = {}",
        qa.id, release.id, qa.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(
        err.to_string().contains("is blocked from entering"),
        "{err}"
    );
    // A second block is refused; unblocking lifts it, audited.
    assert!(matches!(
        blocks::block(&mut app.conn(), &admin(), release.id, "again"),
        Err(stagecoach::domain::rejection::Rejection::Refused(_))
    ));
    let response = app.post_form(&format!("{PAGE}/unblock"), PAGE, &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'release.unblocked'"),
        1
    );
    let response = app
        .post_form(&format!("{PAGE}/deploy"), PAGE, &[("environment", "qa")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.status(release.id, qa.id).as_deref(),
        Some("awaiting_approval")
    );
}

/// A deployment left waiting when the block row is written behind the
/// domain's back still cannot be approved into the queue: the trigger
/// holds the rule on the status change too.
#[tokio::test]
async fn approving_a_blocked_release_into_the_queue_is_refused_by_the_database() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    policy(&app, qa, |p| p.required_approvals = "1".into());
    let release = app.release(&project, "1.0.0");
    app.succeed_next();
    assert_eq!(app.status(release.id, dev.id).as_deref(), Some("succeeded"));
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, qa.id, "approver");
    let waiting = deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    )
    .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO release_blocks (release_id, reason, blocked_by) VALUES ({}, 'bad', 1)",
        release.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let outcome = stagecoach::domain::approvals::decide(
        &mut app.conn(),
        &person(&lead),
        waiting.id,
        &stagecoach::domain::approvals::Decision::Approve,
        "",
    );
    match outcome {
        Err(stagecoach::domain::approvals::ApprovalError::Refused(message)) => {
            assert!(message.contains("blocked"), "{message}");
        }
        other => panic!("approved a blocked release: {other:?}"),
    }
    assert_eq!(
        app.status(release.id, qa.id).as_deref(),
        Some("awaiting_approval")
    );
}

#[tokio::test]
async fn only_those_who_deploy_or_approve_where_it_reached_may_block() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let viewer = app.create_user("viewer", "viewer-password-1", false);
    app.grant(viewer.id, pipeline[0].id, "viewer");
    let qa_approver = app.create_user("qa-lead", "qa-lead-password-1", false);
    app.grant(qa_approver.id, pipeline[1].id, "approver");
    let dev_deployer = app.create_user("dev", "dev-password-123", false);
    app.grant(dev_deployer.id, pipeline[0].id, "deployer");

    // Through the form: a viewer is refused, and nothing is blocked.
    let client = new_client();
    app.login_with(&client, "viewer", "viewer-password-1").await;
    let response = app
        .post_form_with(&client, &format!("{PAGE}/block"), PAGE, &[("reason", "no")])
        .await;
    assert_eq!(response.status().as_u16(), 403);
    let html = app.get_with(&client, PAGE).await.text().await.unwrap();
    assert!(!html.contains("block-release"));
    // An approver of an environment it never reached may not either.
    assert!(matches!(
        blocks::block(&mut app.conn(), &person(&qa_approver), release.id, "no"),
        Err(stagecoach::domain::rejection::Rejection::Denied(_))
    ));
    assert_eq!(app.count("SELECT count(*) AS n FROM release_blocks"), 0);
    // The deployer where it is may, and a QA approver may not lift it.
    blocks::block(&mut app.conn(), &person(&dev_deployer), release.id, "flaky").unwrap();
    assert!(matches!(
        blocks::unblock(&mut app.conn(), &person(&qa_approver), release.id),
        Err(stagecoach::domain::rejection::Rejection::Denied(_))
    ));
    assert_eq!(app.count("SELECT count(*) AS n FROM release_blocks"), 1);
}

/// A chain heading further stops at a block, and says so on the
/// deployment that succeeded.
#[tokio::test]
async fn a_block_stops_a_chain_with_a_note() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    policy(&app, &pipeline[0], |p| p.trigger = "manual".into());
    let release = app.release(&project, "1.0.0");
    let first = deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: pipeline[0].id,
            target_environment_id: Some(pipeline[2].id),
            ..Default::default()
        },
    )
    .unwrap();
    let claimed = app.claim().unwrap();
    assert_eq!(claimed.id, first.id);
    blocks::block(&mut app.conn(), &admin(), release.id, "Broken migration").unwrap();
    app.finish(first.id, &deployments::Outcome::Succeeded);
    assert_eq!(app.status(release.id, pipeline[1].id), None);
    let note: String = stagecoach::db::schema::deployments::table
        .find(first.id)
        .select(stagecoach::db::schema::deployments::note)
        .first(&mut app.conn())
        .unwrap();
    assert!(
        note.starts_with("Stopped before QA: 1.0.0 is blocked by Administrator: Broken migration."),
        "{note}"
    );
}

/// Blocks racing promotions of the same releases: whichever commits
/// first, no blocked release is left waiting, queued or running where it
/// had not succeeded.
#[tokio::test]
async fn racing_blocks_and_promotions_leave_nothing_active_of_a_blocked_release() {
    let app = spawn_app_with(|s| {
        s.http_workers = Some(2);
        s.db_pool_size = 8;
    })
    .await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let mut versions = Vec::new();
    for i in 0..16 {
        let version = format!("1.0.{i}");
        let release = app.release(&project, &version);
        app.wait_for(release.id, pipeline[0].id, "succeeded").await;
        versions.push(version);
    }
    let token = app
        .csrf_token_with(&app.client, PAGE.replace("1.0.0", "1.0.1").as_str())
        .await;
    let mut pairs = Vec::new();
    for version in &versions {
        let base = app.url(&format!("/projects/shop/releases/{version}"));
        let (a, b) = (app.client.clone(), app.client.clone());
        let (t1, t2) = (token.clone(), token.clone());
        pairs.push(tokio::spawn(async move {
            let deploy = a
                .post(format!("{base}/deploy"))
                .form(&[("environment", "qa"), ("csrf_token", &t1)])
                .send();
            let block = b
                .post(format!("{base}/block"))
                .form(&[("reason", "race"), ("csrf_token", &t2)])
                .send();
            let (deploy, block) = tokio::join!(deploy, block);
            (
                deploy.unwrap().status().as_u16(),
                block.unwrap().status().as_u16(),
            )
        }));
    }
    for pair in pairs {
        let (deploy, block) = pair.await.unwrap();
        assert_eq!(block, 303);
        assert!(deploy == 303 || deploy == 422, "{deploy}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM release_blocks"), 16);
    // QA runs nothing by itself here without a worker claim: whatever got
    // in before its block was cancelled, or ran and is then allowed.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM deployments d JOIN release_blocks b ON b.release_id = d.release_id
              WHERE d.status IN ('awaiting_approval', 'queued')
                AND NOT EXISTS (SELECT 1 FROM deployments s WHERE s.release_id = d.release_id
                                  AND s.environment_id = d.environment_id AND s.status = 'succeeded')"
        ),
        0
    );
}
