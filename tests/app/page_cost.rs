//! Every page runs the same SQL whatever the history: the statement count
//! of each page is measured, the data grown tenfold, and measured again. A
//! query per row (N+1) or per release fails here.

use std::time::Duration;

use stagecoach::domain::deployments::{self, DeployInput, Outcome};

use crate::helpers::fixtures::admin;
use crate::helpers::{TestApp, spawn_app_with};

/// Adds `count` releases, runs each in Development, and promotes every
/// fifth to QA.
fn grow(
    app: &TestApp,
    project: &stagecoach::domain::projects::Project,
    qa: i64,
    from: usize,
    count: usize,
) {
    for n in from..from + count {
        let release = app.release(project, &format!("1.{n}.0"));
        if n % 5 == 0 {
            run_all(app);
            deployments::request(
                &mut app.conn(),
                &admin(),
                release.id,
                &DeployInput {
                    environment_id: qa,
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    run_all(app);
}

/// Plays the worker: every queued deployment succeeds.
fn run_all(app: &TestApp) {
    while let Some(d) =
        deployments::claim_next(&mut app.conn(), "w", Duration::from_secs(30)).unwrap()
    {
        deployments::finish(&mut app.conn(), "w", d.id, &Outcome::Succeeded).unwrap();
    }
}

#[tokio::test]
async fn each_page_runs_the_same_statements_with_ten_times_the_history() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    grow(&app, &project, pipeline[1].id, 0, 10);
    // The pages of one release and deployment stay the same pages.
    let deployment = app.count(&format!(
        "SELECT max(id) AS n FROM deployments WHERE environment_id = {}",
        pipeline[1].id
    ));
    let pages = [
        "/".to_owned(),
        "/projects/shop".to_owned(),
        "/projects/shop/releases".to_owned(),
        "/projects/shop/releases?q=1.5".to_owned(),
        "/projects/shop/releases?env=qa".to_owned(),
        "/projects/shop/environments/qa".to_owned(),
        "/admin/audit".to_owned(),
        "/approvals".to_owned(),
        "/projects/shop/releases/1.5.0".to_owned(),
        format!("/deployments/{deployment}"),
    ];
    let mut small = Vec::new();
    for page in &pages {
        let Some(statements) = app.statements_for_get(&app.client, page).await else {
            eprintln!("skipped: the test server does not count statements");
            return;
        };
        small.push(statements.total());
    }
    grow(&app, &project, pipeline[1].id, 10, 90);
    let mut report = Vec::new();
    for (page, before) in pages.iter().zip(&small) {
        let after = app
            .statements_for_get(&app.client, page)
            .await
            .expect("counted before")
            .total();
        report.push(format!("{page}: {before} → {after}"));
        assert_eq!(
            *before, after,
            "{page} runs {before} statements with 10 releases and {after} with 100"
        );
    }
    eprintln!(
        "statements per page, 10 → 100 releases:\n  {}",
        report.join("\n  ")
    );
}
