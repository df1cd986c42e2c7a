//! `stagecoach client`, the binary a CI job runs, against a running app:
//! create a release (twice, harmlessly), deploy as far as QA following the
//! log, read the status, fail on a failing step, approve.

use stagecoach::domain::steps::{self, StepInput};
use stagecoach::domain::tokens::{self, NewToken};

use crate::helpers::fixtures::{admin, policy};
use crate::helpers::{TestApp, spawn_app};

/// Runs the client; its exit success, stdout and stderr.
async fn client(app: &TestApp, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("client")
        .args(args)
        .env("STAGECOACH_URL", &app.address)
        .env("STAGECOACH_TOKEN", token)
        .env_remove("STAGECOACH_PROJECT")
        .output()
        .await
        .expect("running stagecoach client");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn step(app: &TestApp, env: &stagecoach::domain::environments::Environment, script: &str) {
    steps::add(
        &mut app.conn(),
        &admin(),
        env,
        &StepInput {
            kind: "script".into(),
            name: "Deploy".into(),
            script: script.into(),
            timeout_seconds: "60".into(),
            ..Default::default()
        },
    )
    .expect("a step");
}

#[tokio::test]
async fn a_ci_job_creates_deploys_follows_and_approves_with_the_client() {
    let app = spawn_app().await;
    let (_project, pipeline) = app.project("Shop");
    policy(&app, &pipeline[0], |p| p.trigger = "manual".into());
    step(&app, &pipeline[0], "echo hello from development");
    step(&app, &pipeline[1], "echo hello from qa");
    step(&app, &pipeline[2], "echo about to fail; exit 3");
    let bot = app.create_user("ci-bot", "ci-bot-password-1", false);
    for env in &pipeline {
        app.grant(bot.id, env.id, "deployer");
    }
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, pipeline[1].id, "approver");
    let make = |owner| {
        tokens::create(
            &mut app.conn(),
            &admin(),
            owner,
            &NewToken {
                name: "ci".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .secret
    };
    let (bot_token, lead_token) = (make(bot.id), make(lead.id));

    let artifact = format!("web=registry/web:1.0.0,sha256={}", "ab".repeat(32));
    let create = [
        "release",
        "create",
        "--project",
        "shop",
        "1.0.0",
        "--title",
        "Checkout",
        "--artifact",
        &artifact,
    ];
    let (ok, out, err) = client(&app, &bot_token, &create).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("Release 1.0.0 of shop"), "{out}");
    // A CI rerun of the same step is harmless.
    let (ok, _, err) = client(&app, &bot_token, &create).await;
    assert!(ok, "{err}");
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);

    // Deploy as far as QA, following each deployment's log to the end.
    let (ok, out, err) = client(
        &app,
        &bot_token,
        &[
            "deploy",
            "--project",
            "shop",
            "1.0.0",
            "--to",
            "development",
            "--as-far-as",
            "qa",
            "--wait",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("hello from development"), "{out}");
    assert!(out.contains("hello from qa"), "{out}");
    let (ok, out, _) = client(&app, &bot_token, &["status", "--project", "shop", "1.0.0"]).await;
    assert!(ok);
    assert!(
        out.lines().any(|l| l.contains("qa") && l.contains("live")),
        "{out}"
    );

    // A failing step fails the job.
    let (ok, out, err) = client(
        &app,
        &bot_token,
        &[
            "deploy",
            "--project",
            "shop",
            "1.0.0",
            "--to",
            "staging",
            "--wait",
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("about to fail"), "{out}");
    assert!(err.contains("ended failed"), "{err}");

    // A refusal says why, with the checklist.
    let (ok, _, err) = client(
        &app,
        &bot_token,
        &["deploy", "--project", "shop", "1.0.0", "--to", "production"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("409") && err.contains("[unmet]"), "{err}");

    // Approve from the command line.
    policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    let (ok, _, err) = client(
        &app,
        &bot_token,
        &[
            "release",
            "create",
            "--project",
            "shop",
            "2.0.0",
            "--title",
            "Search",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = client(
        &app,
        &bot_token,
        &[
            "deploy",
            "--project",
            "shop",
            "2.0.0",
            "--to",
            "development",
            "--wait",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = client(
        &app,
        &bot_token,
        &["deploy", "--project", "shop", "2.0.0", "--to", "qa"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("awaiting_approval"), "{out}");
    let id = app.count("SELECT max(id) AS n FROM deployments");
    let (ok, out, err) = client(
        &app,
        &lead_token,
        &["approve", &id.to_string(), "--comment", "ship it"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("queued"), "{out}");

    // A bad token: the server's word, and a failing exit.
    let (ok, _, err) = client(&app, "stgc_nope", &["status", "--project", "shop", "1.0.0"]).await;
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    let (ok, _, err) = client(
        &app,
        &bot_token,
        &[
            "release",
            "create",
            "--project",
            "shop",
            "3.0.0",
            "--artifact",
            "web",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("name=reference"), "{err}");
}
