//! Manual steps: a deployment waits at one until an approver of its
//! environment proceeds or aborts with a note (once), or the step's
//! timeout aborts it; the decision, who and when are in the log and the
//! audit.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use stagecoach::db::schema::deployment_steps;
use stagecoach::domain::deployments::{self, manual};
use stagecoach::domain::environments::Environment;
use stagecoach::domain::ids::{DeploymentId, ReleaseId};
use stagecoach::domain::steps::{self, StepInput};

use crate::helpers::fixtures::{admin, person};
use crate::helpers::{TestApp, new_client, spawn_app};

fn manual_step(app: &TestApp, env: &Environment, timeout: &str) {
    steps::add(
        &mut app.conn(),
        &admin(),
        env,
        &StepInput {
            kind: "manual".into(),
            name: "Check the dashboards".into(),
            script: "Open Grafana <b>and</b> confirm error rates are flat.".into(),
            url: String::new(),
            timeout_seconds: timeout.into(),
        },
    )
    .unwrap();
}

/// Waits until the deployment of `release` into `env` waits at its manual
/// step; returns the deployment.
async fn waiting_at_manual_step(
    app: &TestApp,
    release: ReleaseId,
    env: &Environment,
) -> DeploymentId {
    app.wait_for(release, env.id, "running").await;
    let id: DeploymentId = stagecoach::db::schema::deployments::table
        .filter(stagecoach::db::schema::deployments::release_id.eq(release))
        .filter(stagecoach::db::schema::deployments::environment_id.eq(env.id))
        .select(stagecoach::db::schema::deployments::id)
        .first(&mut app.conn())
        .unwrap();
    let started = Instant::now();
    loop {
        let status: Option<String> = deployment_steps::table
            .filter(deployment_steps::deployment_id.eq(id))
            .filter(deployment_steps::kind.eq("manual"))
            .select(deployment_steps::status)
            .first(&mut app.conn())
            .optional()
            .unwrap();
        if status.as_deref() == Some("running") {
            return id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never waited: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn log_of(app: &TestApp, id: DeploymentId) -> String {
    deployments::log_from(&mut app.conn(), id, 0, 1 << 20)
        .unwrap()
        .text
}

#[tokio::test]
async fn an_approver_proceeds_at_a_manual_step_once_and_the_log_says_who() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    manual_step(&app, qa, "120");
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, qa.id, "approver");
    let dev_user = app.create_user("dev", "dev-password-123", false);
    app.grant(dev_user.id, qa.id, "deployer");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "succeeded").await;
    deployments::request(
        &mut app.conn(),
        &person(&dev_user),
        release.id,
        &deployments::DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    )
    .unwrap();
    let id = waiting_at_manual_step(&app, release.id, qa).await;
    let page = format!("/deployments/{id}");

    // A deployer who is not an approver is refused, and sees no form.
    let dev_client = new_client();
    app.login_with(&dev_client, "dev", "dev-password-123").await;
    let html = app.get_with(&dev_client, &page).await.text().await.unwrap();
    assert!(html.contains("Waiting for a person."), "{html}");
    assert!(
        html.contains("Open Grafana &#60;b&#62;and&#60;/b&#62;"),
        "escaped"
    );
    assert!(!html.contains("id=\"manual-proceed\""));
    let response = app
        .post_form_with(
            &dev_client,
            &format!("{page}/steps/0/decide"),
            &page,
            &[("proceed", "1")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);

    // The approver proceeds, with a note; their inbox shows what waits.
    let lead_client = new_client();
    app.login_with(&lead_client, "lead", "lead-password-123")
        .await;
    let inbox = app
        .get_with(&lead_client, "/approvals")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        inbox.contains("Waiting for a person") && inbox.contains("Check the dashboards"),
        "{inbox}"
    );
    // The header counts it for the approver, on every page.
    assert!(
        inbox.contains("<span class=\"count\" aria-label=\"1 waiting\">1</span>"),
        "{inbox}"
    );
    let inbox = app
        .get_with(&dev_client, "/approvals")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !inbox.contains("Check the dashboards"),
        "only approvers decide"
    );
    assert!(!inbox.contains("class=\"count\""), "{inbox}");
    let html = app
        .get_with(&lead_client, &page)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"manual-proceed\""), "{html}");
    let response = app
        .post_form_with(
            &lead_client,
            &format!("{page}/steps/0/decide"),
            &page,
            &[("proceed", "1"), ("note", "error rates flat")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for(release.id, qa.id, "succeeded").await;
    let log = log_of(&app, id);
    assert!(log.contains("Proceed by lead at"), "{log}");
    assert!(log.contains(": error rates flat"), "{log}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.manual_proceeded' AND details->>'note' = 'error rates flat'"),
        1
    );
    // Never twice: the database refuses a second decision.
    let again = manual::decide(&mut app.conn(), &person(&lead), id, 0, false, "");
    assert!(
        matches!(
            again,
            Err(stagecoach::domain::rejection::Rejection::Refused(_))
        ),
        "{again:?}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM manual_decisions"), 1);
}

#[tokio::test]
async fn an_abort_fails_the_deployment_and_a_timeout_aborts_it() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    manual_step(&app, dev, "1");
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, dev.id, "approver");

    // Nobody decides within a second: it fails, saying so.
    let first = app.release(&project, "1.0.0");
    app.wait_for(first.id, dev.id, "failed").await;
    let note: String = stagecoach::db::schema::deployments::table
        .filter(stagecoach::db::schema::deployments::release_id.eq(first.id))
        .select(stagecoach::db::schema::deployments::note)
        .first(&mut app.conn())
        .unwrap();
    assert!(note.contains("no one decided within 1 s"), "{note}");

    // With time to decide, the approver aborts.
    let step = steps::list(&mut app.conn(), dev.id).unwrap().remove(0);
    steps::update(
        &mut app.conn(),
        &admin(),
        dev,
        &step,
        &StepInput {
            kind: "manual".into(),
            name: step.name.clone(),
            script: step.script.clone(),
            url: String::new(),
            timeout_seconds: "120".into(),
        },
    )
    .unwrap();
    let second = app.release(&project, "1.1.0");
    let id = waiting_at_manual_step(&app, second.id, dev).await;
    // Two approvers decide at the same instant: exactly one decision counts.
    let other = app.create_user("lead2", "lead2-password-123", false);
    app.grant(other.id, dev.id, "approver");
    let barrier = std::sync::Barrier::new(2);
    let outcomes: Vec<Result<(), stagecoach::domain::rejection::Rejection>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = [&lead, &other]
                .into_iter()
                .map(|who| {
                    let barrier = &barrier;
                    let mut conn = app.conn();
                    let who = person(who);
                    scope.spawn(move || {
                        barrier.wait();
                        manual::decide(&mut conn, &who, id, 0, false, "errors are up")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| matches!(
        o,
        Err(stagecoach::domain::rejection::Rejection::Refused(m)) if m.contains("already decided")
    )), "{outcomes:?}");
    app.wait_for(second.id, dev.id, "failed").await;
    let log = log_of(&app, id);
    assert!(log.contains("Abort by lead"), "{log}");
    assert_eq!(app.count("SELECT count(*) AS n FROM manual_decisions"), 1);
    let note: String = stagecoach::db::schema::deployments::table
        .find(id)
        .select(stagecoach::db::schema::deployments::note)
        .first(&mut app.conn())
        .unwrap();
    assert!(note.contains("aborted by lead"), "{note}");
    assert!(note.contains(": errors are up"), "{note}");
    // A step that no longer waits cannot be decided, whatever the path.
    let err = diesel::sql_query(format!(
        "INSERT INTO manual_decisions (deployment_id, position, proceed, decided_by) VALUES ({id}, 0, true, 1)"
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(
        err.to_string().contains("is not waiting at manual step"),
        "{err}"
    );
}
