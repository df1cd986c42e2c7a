use stagecoach::domain::{dashboard, demo};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_dashboard_needs_a_signed_in_user() {
    let app = spawn_app().await;
    assert_eq!(app.get("/").await.status().as_u16(), 303);
}

#[tokio::test]
async fn with_no_projects_the_dashboard_says_how_to_start() {
    let app = spawn_app().await;
    app.login_admin().await;
    let html = app.get_html("/").await;
    assert!(html.contains("No projects yet"));
}

#[tokio::test]
async fn demo_data_spreads_a_dozen_releases_along_the_pipeline_once() {
    let app = spawn_app().await;
    assert!(demo::seed(&mut app.conn()).unwrap());
    assert!(
        !demo::seed(&mut app.conn()).unwrap(),
        "a second run adds nothing"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 12);
    assert_eq!(app.count("SELECT count(*) AS n FROM environments"), 4);

    let overview = dashboard::overview(&mut app.conn(), None).unwrap();
    assert_eq!(overview.len(), 1);
    let stages = &overview[0].stages;
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Development", "QA", "Staging", "Production"]);
    assert_eq!(stages[0].live.as_ref().unwrap().version, "2.11.0");
    assert_eq!(stages[1].live.as_ref().unwrap().label, "2.10.0-rc.1");
    assert_eq!(stages[2].live.as_ref().unwrap().version, "2.8.0");
    assert_eq!(stages[2].latest.as_ref().unwrap().status.as_str(), "failed");
    assert_eq!(stages[3].live.as_ref().unwrap().label, "2.6.0");
    assert_eq!(
        stages[3].latest.as_ref().unwrap().status.as_str(),
        "awaiting_approval"
    );

    app.login_admin().await;
    let html = app.get_html("/").await;
    assert!(html.contains("Storefront"));
    assert!(html.contains("2.6.0"));
    assert!(html.contains("waiting for approval"));
    assert!(html.contains(r#"href="https://storefront.example.com""#));
}
