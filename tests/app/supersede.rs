//! Supersede: where the policy says so, a newer release requested into an
//! environment cancels older ones still waiting for approval or queued
//! there, marked with the newer one and audited, by whatever path it was
//! requested; an older one asked for while a newer one waits is refused
//! (it would run after it). Racing requests leave only the newer waiting.

use diesel::prelude::*;
use stagecoach::db::schema::deployments;
use stagecoach::domain::deployments::{self as domain, DeployInput};
use stagecoach::domain::ids::DeploymentId;

use crate::helpers::fixtures::{admin, policy};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_newer_release_supersedes_older_ones_waiting_where_the_policy_says_so() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    // The policy, through the admin's form.
    let settings = "/admin/projects/shop/environments/qa/settings";
    let response = app
        .post_form(
            "/admin/projects/shop/environments/qa/policy",
            settings,
            &[
                ("max_running", "1"),
                ("queue_policy", "all"),
                ("approval_timeout_hours", "168"),
                ("required_approvals", "1"),
                ("supersede", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        app.get_html(settings)
            .await
            .contains("name=\"supersede\" id=\"supersede\" value=\"1\" checked")
    );

    let mut ids = Vec::new();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let release = app.release(&project, version);
        app.wait_for(release.id, dev.id, "succeeded").await;
        ids.push(release);
    }
    let deploy = |version: &'static str| {
        let page = format!("/projects/shop/releases/{version}");
        let app = &app;
        async move {
            let response = app
                .post_form(&format!("{page}/deploy"), &page, &[("environment", "qa")])
                .await;
            assert_eq!(response.status().as_u16(), 303);
        }
    };
    deploy("1.0.0").await;
    let first: DeploymentId = deployments::table
        .filter(deployments::environment_id.eq(qa.id))
        .select(deployments::id)
        .first(&mut app.conn())
        .unwrap();
    deploy("1.1.0").await;
    let (status, by, note): (String, Option<DeploymentId>, String) = deployments::table
        .find(first)
        .select((
            deployments::status,
            deployments::superseded_by,
            deployments::note,
        ))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "cancelled");
    let newer = by.expect("marked with the newer deployment");
    assert!(note.starts_with("Superseded by 1.1.0"), "{note}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.superseded'"),
        1
    );
    let page = app.get_html(&format!("/deployments/{first}")).await;
    assert!(
        page.contains(&format!(
            "href=\"/deployments/{newer}\" id=\"superseded-by\""
        )),
        "{page}"
    );
    // An older release asked for while a newer one waits would run after
    // it: refused, with what to do.
    let page = "/projects/shop/releases/1.0.0";
    let response = app
        .post_form(&format!("{page}/deploy"), page, &[("environment", "qa")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("A newer release waits to be deployed to QA"),
        "{html}"
    );
    assert_eq!(
        app.status(ids[1].id, qa.id).as_deref(),
        Some("awaiting_approval")
    );
    // The newest of all supersedes it, whichever path asks (here the
    // domain function the API and chains use).
    domain::request(
        &mut app.conn(),
        &admin(),
        ids[2].id,
        &DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM deployments WHERE environment_id = {} AND status = 'awaiting_approval'",
            qa.id
        )),
        1
    );
    assert_eq!(
        app.status(ids[2].id, qa.id).as_deref(),
        Some("awaiting_approval")
    );
    // The approver's inbox holds only the newest.
    let inbox = app.get_html("/approvals").await;
    assert!(
        inbox.contains("1.2.0") && !inbox.contains(">1.1.0<"),
        "{inbox}"
    );
}

#[tokio::test]
async fn without_the_policy_nothing_is_superseded() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = policy(&app, &pipeline[0], |p| {
        p.trigger = "manual".into();
        p.required_approvals = "1".into();
    });
    for version in ["1.0.0", "1.1.0"] {
        let release = app.release(&project, version);
        domain::request(
            &mut app.conn(),
            &admin(),
            release.id,
            &DeployInput {
                environment_id: dev.id,
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments WHERE status = 'awaiting_approval'"),
        2
    );
}

/// Two releases requested into one superseding environment at the same
/// instant, many times: only the newer one is ever left waiting.
#[tokio::test]
async fn racing_requests_leave_only_the_newer_release_waiting() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = policy(&app, &pipeline[0], |p| {
        p.trigger = "manual".into();
        p.required_approvals = "1".into();
        p.supersede = true;
    });
    for round in 0..20 {
        let older = app.release(&project, &format!("1.{round}.0"));
        let newer = app.release(&project, &format!("1.{round}.1"));
        let barrier = std::sync::Barrier::new(2);
        let outcomes: Vec<Result<_, _>> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&older, &newer]
                .into_iter()
                .map(|release| {
                    let (barrier, dev_id) = (&barrier, dev.id);
                    let mut conn = app.conn();
                    scope.spawn(move || {
                        barrier.wait();
                        domain::request(
                            &mut conn,
                            &admin(),
                            release.id,
                            &DeployInput {
                                environment_id: dev_id,
                                ..Default::default()
                            },
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // The newer one is always made; the older one is made (then
        // superseded) or refused behind it.
        assert!(outcomes[1].is_ok(), "round {round}: {:?}", outcomes[1]);
        if let Err(err) = &outcomes[0] {
            assert!(err.to_string().contains("supersedes older ones"), "{err}");
        }
        // Only the newest waits: nothing older beside or behind it.
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM deployments WHERE environment_id = {} \
                 AND status IN ('awaiting_approval', 'queued')",
                dev.id
            )),
            1,
            "round {round}"
        );
        assert_eq!(
            app.status(newer.id, dev.id).as_deref(),
            Some("awaiting_approval")
        );
    }
}

/// An approver approving the older release at the same instant as a newer
/// one is requested, many times: whichever commits first, the older one
/// ends superseded (never queued beside or behind the newer), and the
/// newer one is the only one waiting.
#[tokio::test]
async fn an_approval_racing_a_newer_request_never_lets_the_older_release_go_ahead() {
    use stagecoach::domain::approvals::{self, Decision};
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = policy(&app, &pipeline[0], |p| {
        p.trigger = "manual".into();
        p.required_approvals = "1".into();
        p.supersede = true;
    });
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, dev.id, "approver");
    let lead = crate::helpers::fixtures::person(&lead);
    let (mut approved_first, mut refused) = (0, 0);
    for round in 0..20 {
        let older = app.release(&project, &format!("2.{round}.0"));
        let newer = app.release(&project, &format!("2.{round}.1"));
        let waiting = domain::request(
            &mut app.conn(),
            &admin(),
            older.id,
            &DeployInput {
                environment_id: dev.id,
                ..Default::default()
            },
        )
        .unwrap();
        let barrier = std::sync::Barrier::new(2);
        let (approval, request) = std::thread::scope(|scope| {
            let (mut a, mut b) = (app.conn(), app.conn());
            let (barrier, lead, dev_id) = (&barrier, &lead, dev.id);
            let approving = scope.spawn(move || {
                barrier.wait();
                // Half the rounds let the request get ahead, by a varying
                // few milliseconds, so both orders are met.
                if round % 2 == 1 {
                    std::thread::sleep(std::time::Duration::from_millis(2 + round % 7));
                }
                approvals::decide(&mut a, lead, waiting.id, &Decision::Approve, "")
            });
            let requesting = scope.spawn(move || {
                barrier.wait();
                domain::request(
                    &mut b,
                    &admin(),
                    newer.id,
                    &DeployInput {
                        environment_id: dev_id,
                        ..Default::default()
                    },
                )
            });
            (approving.join().unwrap(), requesting.join().unwrap())
        });
        let newer_deployment = request.unwrap_or_else(|err| panic!("round {round}: {err:?}"));
        match approval {
            Ok(_) => approved_first += 1,
            Err(err) => {
                assert!(
                    err.to_string().contains("cancelled")
                        || err.to_string().contains("not waiting"),
                    "round {round}: {err}"
                );
                refused += 1;
            }
        }
        let (status, superseded_by): (String, Option<DeploymentId>) = deployments::table
            .find(waiting.id)
            .select((deployments::status, deployments::superseded_by))
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(status, "cancelled", "round {round}");
        assert_eq!(superseded_by, Some(newer_deployment.id), "round {round}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM deployments WHERE environment_id = {} \
                 AND status IN ('awaiting_approval', 'queued')",
                dev.id
            )),
            1,
            "round {round}"
        );
    }
    println!(
        "approval vs newer request: {approved_first} approvals committed first, {refused} refused, 20 rounds"
    );
}
