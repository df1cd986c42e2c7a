use crate::helpers::spawn_app;

#[tokio::test]
async fn the_release_list_pages_by_fifty_newest_first_without_overlap() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    for i in 0..55 {
        app.release(&project, &format!("1.{i}.0"));
    }
    let list = format!("/projects/{}/releases", project.slug);
    let first = app.get_html(&list).await;
    assert_eq!(first.matches("class=\"version\"").count(), 50);
    assert!(first.contains(">1.54.0</a>"), "newest first");
    assert!(!first.contains(">1.4.0</a>"));
    let next = first
        .split("class=\"pager-next\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("before="));
    let second = app.get_html(&next).await;
    assert_eq!(second.matches("class=\"version\"").count(), 5);
    assert!(second.contains(">1.4.0</a>") && second.contains(">1.0.0</a>"));
    assert!(!second.contains(">1.5.0</a>"));
    assert!(!second.contains("pager-next"));
}

#[tokio::test]
async fn the_release_list_searches_by_version_or_title_and_filters_by_environment() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let a = app.release(&project, "2.0.0");
    let b = app.release(&project, "2.1.0");
    app.wait_for(a.id, pipeline[0].id, "succeeded").await;
    app.wait_for(b.id, pipeline[0].id, "succeeded").await;
    stagecoach::domain::deployments::request(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        a.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(a.id, pipeline[1].id, "succeeded").await;
    let list = format!("/projects/{}/releases", project.slug);
    let html = app.get_html(&format!("{list}?q=2.1")).await;
    assert!(html.contains(">2.1.0</a>") && !html.contains(">2.0.0</a>"));
    let html = app.get_html(&format!("{list}?q=release+2.0")).await;
    assert!(html.contains(">2.0.0</a>"), "title search");
    let html = app.get_html(&format!("{list}?q=%25")).await;
    assert!(
        html.contains("No release matches."),
        "LIKE wildcards are literal"
    );
    let html = app.get_html(&format!("{list}?env=qa")).await;
    assert!(html.contains(">2.0.0</a>") && !html.contains(">2.1.0</a>"));
    // Chips: 2.0.0 is live in QA, 2.1.0 has not reached it.
    let all = app.get_html(&list).await;
    assert!(all.contains("QA: succeeded (live)"));
    assert!(all.contains("QA: not reached"));
}

#[tokio::test]
async fn the_environment_page_shows_what_is_live_waiting_and_the_history() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let a = app.release(&project, "3.0.0");
    let first = stagecoach::domain::deployments::claim_next(
        &mut app.conn(),
        "t",
        std::time::Duration::from_secs(30),
    )
    .unwrap()
    .unwrap();
    stagecoach::domain::deployments::finish(
        &mut app.conn(),
        "t",
        first.id,
        &stagecoach::domain::deployments::Outcome::Succeeded,
    )
    .unwrap();
    app.release(&project, "3.1.0");
    let html = app
        .get_html(&format!(
            "/projects/{}/environments/development",
            project.slug
        ))
        .await;
    assert!(html.contains("Live now"));
    assert!(html.contains(">3.0.0</a>"));
    assert!(html.contains("chip-queued"), "3.1.0 waits in the queue");
    assert!(html.contains("History"));
    assert_eq!(
        app.status(a.id, pipeline[0].id).as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        app.get(&format!("/projects/{}/environments/nope", project.slug))
            .await
            .status()
            .as_u16(),
        404
    );
}
