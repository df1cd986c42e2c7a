//! Every page runs the same SQL whatever the history: the statement count
//! of each page is measured, the data grown tenfold, and measured again. A
//! query per row (N+1) or per release fails here, and so does a page that
//! needs more than five statements (each is a round trip that costs more
//! than its rows: `bench/README.md`).

use stagecoach::domain::deployments::{self, DeployInput, Outcome};
use stagecoach::domain::ids::EnvironmentId;

use crate::helpers::fixtures::admin;
use crate::helpers::{TestApp, new_client, spawn_app_with};

/// The most statements a page may run, the session's load included.
const MOST: i64 = 5;

/// Adds `count` releases, runs each in Development, and promotes every
/// fifth to QA.
fn grow(
    app: &TestApp,
    project: &stagecoach::domain::projects::Project,
    qa: EnvironmentId,
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
    while let Some(d) = app.claim() {
        app.finish(d.id, &Outcome::Succeeded);
    }
}

#[tokio::test]
async fn each_page_runs_the_same_statements_with_ten_times_the_history() {
    // Without the read cache: what a page costs when it reads the database.
    let app = spawn_app_with(|s| {
        s.deployment_workers = 0;
        s.read_cache_entries = 0;
    })
    .await;
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
    // Someone who is not an admin: their rights come from grants, read
    // with the project. The audit log is for admins only.
    let user = app.create_user("dev", "dev-password-123", false);
    for env in &pipeline {
        app.grant(user.id, env.id, "deployer");
    }
    app.grant(user.id, pipeline[1].id, "approver");
    let dev = new_client();
    let signed_in = app.login_with(&dev, "dev", "dev-password-123").await;
    assert_eq!(signed_in.status().as_u16(), 303);
    let visits: Vec<(&str, &reqwest::Client, &String)> = pages
        .iter()
        .map(|page| ("admin", &app.client, page))
        .chain(
            pages
                .iter()
                .filter(|page| !page.starts_with("/admin"))
                .map(|page| ("dev", &dev, page)),
        )
        .collect();
    let mut small = Vec::new();
    for (_, client, page) in &visits {
        let Some(statements) = app.statements_for_get(client, page).await else {
            eprintln!("skipped: the test server does not count statements");
            return;
        };
        small.push(statements.total());
    }
    grow(&app, &project, pipeline[1].id, 10, 90);
    let mut report = Vec::new();
    for ((who, client, page), before) in visits.iter().zip(&small) {
        let after = app
            .statements_for_get(client, page)
            .await
            .expect("counted before")
            .total();
        report.push(format!("{who} {page}: {before} → {after}"));
        assert_eq!(
            *before, after,
            "{page} runs {before} statements with 10 releases and {after} with 100 for {who}"
        );
        assert!(
            after <= MOST,
            "{page} runs {after} statements for {who}, more than {MOST}"
        );
    }
    eprintln!(
        "statements per page, 10 → 100 releases:\n  {}",
        report.join("\n  ")
    );
}
