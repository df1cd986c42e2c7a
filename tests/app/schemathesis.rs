//! schemathesis (PyPI) against the running app: it reads the served
//! OpenAPI document and sends every operation a bounded number of
//! generated requests, valid and not. The run must find no 5xx, no status
//! the document does not list, and no answer off its schema.
//! `scripts/ensure-deps.sh schemathesis` installs the pinned version.

use std::path::PathBuf;

use crate::api::{token, world};
use crate::helpers::spawn_app_with;

/// The pinned install under target/, or one on the PATH.
fn schemathesis() -> PathBuf {
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/tools/schemathesis/bin/schemathesis");
    if pinned.exists() {
        return pinned;
    }
    which("schemathesis").unwrap_or_else(|| {
        panic!("schemathesis is not installed: run scripts/ensure-deps.sh schemathesis")
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    // The names the document's examples use exist, so the examples phase
    // reaches the handlers' work and not only their 404s.
    let (project, user) = world(&app);
    let release = app.release(&project, "1.0.0");
    let pipeline = stagecoach::domain::environments::list(&mut app.conn(), project.id).unwrap();
    let first = stagecoach::domain::deployments::request(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[0].id,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.id.0, 1, "the deployment the document's examples name");
    let secret = token(&app, user, "", &[]);
    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis");
    std::fs::create_dir_all(&report).unwrap();
    // Run where its cache of found failures stays under target/.
    let output = tokio::process::Command::new(schemathesis())
        .current_dir(&report)
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {secret}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "30", "--seed", "1", "--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(report.join("junit.xml"))
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems (report in {}):\n{stdout}\n{stderr}",
        report.display()
    );
    println!("{stdout}");
    // It ran every operation, not none.
    let operations = crate::openapi::operations().len();
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "{stdout}"
    );
}
