//! Page reads kept while the database is unchanged (`routes::read_cache`):
//! a page asked again runs only the session's statement, and any write,
//! by any path, shows on the next request; nobody is served another
//! user's page.

use diesel::RunQueryDsl;
use stagecoach::domain::deployments::Outcome;
use stagecoach::domain::environments::Environment;

use crate::helpers::{TestApp, new_client, spawn_app_with};

/// An app with no workers (nothing commits unless the test does), the
/// admin signed in, and project Shop with release 1.0.0.
async fn shop_with_a_release() -> (TestApp, Vec<Environment>) {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    app.release(&project, "1.0.0");
    (app, pipeline)
}

/// Asks for `path` as the admin twice, so that the second answer is one
/// a kept read would give.
async fn ask_twice(app: &TestApp, path: &str) {
    for _ in 0..2 {
        assert_eq!(app.get(path).await.status().as_u16(), 200, "{path}");
    }
}

/// How often a page is asked again for a hit: the snapshot is the whole
/// cluster's, and tests running beside this one commit in their own
/// databases between two requests now and then.
const TRIES: usize = 60;

#[tokio::test]
async fn a_page_asked_again_with_nothing_written_runs_only_the_session_statement() {
    let (app, _) = shop_with_a_release().await;
    let pages = [
        "/".to_owned(),
        "/projects/shop".to_owned(),
        "/projects/shop/releases".to_owned(),
        "/projects/shop/releases/1.0.0".to_owned(),
        "/approvals".to_owned(),
    ];
    for page in &pages {
        let mut counts = Vec::new();
        for _ in 0..TRIES {
            let Some(statements) = app.statements_for_get(&app.client, page).await else {
                eprintln!("skipped: the test server does not count statements");
                return;
            };
            counts.push(statements.total());
            if statements.total() == 1 {
                assert_eq!(statements.matching("sessions"), 1, "{statements:?}");
                break;
            }
        }
        assert_eq!(
            counts.last(),
            Some(&1),
            "{page} was never served from the cache: {counts:?} statements"
        );
    }
}

#[tokio::test]
async fn a_change_by_any_path_shows_on_the_next_request() {
    let (app, pipeline) = shop_with_a_release().await;
    let page = "/projects/shop/releases/1.0.0";
    let list = "/projects/shop/releases";
    for path in [page, list] {
        assert!(!app.get_html(path).await.contains("Renamed in SQL"));
        // Asked twice, so the second is the one a cache would answer.
        assert!(!app.get_html(path).await.contains("Renamed in SQL"));
    }
    // Plain SQL, behind the app's back: no invalidation could know of it.
    diesel::sql_query("UPDATE releases SET title = 'Renamed in SQL'")
        .execute(&mut app.conn())
        .unwrap();
    for path in [page, list] {
        let html = app.get_html(path).await;
        assert!(html.contains("Renamed in SQL"), "{path} served stale data");
    }
    // A worker's claim, a domain call: the deployment the release queued
    // in Development starts running.
    let deployment = app.count("SELECT max(id) AS n FROM deployments");
    let page = format!("/deployments/{deployment}");
    let env = format!("/projects/shop/environments/{}", pipeline[0].slug);
    for path in [&page, &env] {
        ask_twice(&app, path).await;
    }
    let claimed = app.claim().expect("the release's deployment is queued");
    assert_eq!(claimed.id.0, deployment);
    let html = app.get_html(&page).await;
    assert!(
        html.contains("data-status=\"running\""),
        "{page} missed the claim: {html}"
    );
    app.finish(claimed.id, &Outcome::Succeeded);
    let html = app.get_html(&env).await;
    assert!(
        html.contains("chip-succeeded"),
        "{env} missed the finished deployment: {html}"
    );
}

#[tokio::test]
async fn one_users_kept_page_is_never_served_to_another() {
    let (app, _) = shop_with_a_release().await;
    app.create_user("outsider", "outsider-password-1", false);
    let outsider = new_client();
    let signed_in = app
        .login_with(&outsider, "outsider", "outsider-password-1")
        .await;
    assert_eq!(signed_in.status().as_u16(), 303);
    for path in ["/projects/shop", "/projects/shop/releases/1.0.0"] {
        // The admin's page is read (and kept) first.
        ask_twice(&app, path).await;
        let status = app.get_with(&outsider, path).await.status().as_u16();
        assert_eq!(status, 404, "{path} for someone with no role in Shop");
    }
    // Nor the other way round: the dashboard of someone who sees nothing
    // does not stand in for the admin's.
    let empty = app.get_with(&outsider, "/").await.text().await.unwrap();
    assert!(!empty.contains("/projects/shop"), "{empty}");
    let full = app.get_html("/").await;
    assert!(full.contains("/projects/shop"), "{full}");
}
