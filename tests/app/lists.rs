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

/// A search reads the newest releases first and asks the index only when
/// they hold less than a page: both paths, and the cursor across them,
/// must find exactly what `ILIKE` finds, newest first.
#[tokio::test]
async fn a_search_finds_the_same_releases_whether_they_are_new_or_deep_in_history() {
    use stagecoach::domain::releases::{self, ReleaseInput, ReleaseQuery};
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let mut conn = app.conn();
    // 2,100 releases, more than a search walks before it asks the index.
    for i in 0..2100 {
        let title = match i {
            _ if i < 3 => format!("Old fix for 38.0.1 #{i}"),
            _ if i % 100 == 50 => format!("Blue build {i}"),
            _ => format!("Build {i}"),
        };
        releases::create(
            &mut conn,
            &crate::helpers::fixtures::admin(),
            &project,
            &ReleaseInput {
                version: format!("7.{}.{}", i / 100, i % 100),
                title,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let live = Default::default();
    let mut search = |q: &str, before| {
        let query = ReleaseQuery {
            search: q.to_owned(),
            before,
            ..Default::default()
        };
        let (rows, next) =
            releases::list(&mut conn, project.id, &pipeline, &live, &query, 50).unwrap();
        let versions: Vec<String> = rows.into_iter().map(|r| r.release.version).collect();
        (versions, next)
    };

    // Rare and old: only the index finds it, behind 2,097 newer releases.
    let (found, next) = search("38.0.1", None);
    assert_eq!(found, ["7.0.2", "7.0.1", "7.0.0"]);
    assert!(next.is_none());

    // One in a hundred: fewer than a page among the newest, so the index
    // answers, with every match in order.
    let (found, next) = search("blue", None);
    let expected: Vec<String> = (0..21).rev().map(|h| format!("7.{h}.50")).collect();
    assert_eq!(found, expected);
    assert!(next.is_none());

    // Common: the newest page from the walk, then the next from its cursor.
    let (first, next) = search("build", None);
    assert_eq!(first.len(), 50);
    assert_eq!(first[0], "7.20.99");
    let (second, _) = search("build", next);
    assert_eq!(second.len(), 50);
    assert_eq!(second[0], "7.20.49");
    assert!(first.iter().all(|v| !second.contains(v)));

    // Punctuation narrows the index's offer only: `_` and `.` are not
    // interchangeable, and a version's dots match themselves.
    assert!(search("7_20", None).0.is_empty());
    assert_eq!(
        search("7.20.9", None).0,
        [
            "7.20.99", "7.20.98", "7.20.97", "7.20.96", "7.20.95", "7.20.94", "7.20.93", "7.20.92",
            "7.20.91", "7.20.90", "7.20.9"
        ]
    );
    assert_eq!(search("OLD FIX", None).0.len(), 3, "case does not matter");

    // Versions deep in history, found through the index: a prefix, and a
    // run from the middle (two of its matches are among the newest, too
    // few for a page, so the index answers for all three).
    assert_eq!(
        search("7.0.4", None).0,
        [
            "7.0.49", "7.0.48", "7.0.47", "7.0.46", "7.0.45", "7.0.44", "7.0.43", "7.0.42",
            "7.0.41", "7.0.40", "7.0.4"
        ]
    );
    assert_eq!(search("0.45", None).0, ["7.20.45", "7.10.45", "7.0.45"]);

    // The index follows a version changed outside the app.
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE releases SET version = '9.9.9-hotfix' WHERE version = '7.0.5'"),
        &mut app.conn(),
    )
    .unwrap();
    assert_eq!(search("9-HOTFIX", None).0, ["9.9.9-hotfix"]);
    let expected: Vec<String> = (50..60).rev().map(|i| format!("7.0.{i}")).collect();
    assert_eq!(search("7.0.5", None).0, expected, "the old version is gone");
}

/// A search reads the whole pending list of a GIN index on top of the
/// index itself, so with a pending list a search costs more the more
/// releases were made since autovacuum last came by (bench/README.md).
#[tokio::test]
async fn the_search_index_takes_new_releases_at_once_without_a_pending_list() {
    let app = spawn_app().await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM pg_class \
              WHERE relname = 'releases_search_words_idx' \
                AND 'fastupdate=off' = ANY (reloptions)"
        ),
        1
    );
}

/// A queue grows while workers are away; the page shows its oldest fifty
/// and says more wait, instead of growing with it.
#[tokio::test]
async fn the_environment_page_shows_the_oldest_fifty_waiting_and_says_more_wait() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let page = format!("/projects/{}/environments/development", project.slug);
    let waiting = |html: &str| {
        html.split("id=\"queue-title\"")
            .nth(1)
            .unwrap()
            .split("</section>")
            .next()
            .unwrap()
            .to_owned()
    };
    for i in 0..50 {
        app.release(&project, &format!("4.{i}.0"));
    }
    let queue = waiting(&app.get_html(&page).await);
    assert_eq!(queue.matches("class=\"attempt\"").count(), 50);
    assert!(
        !queue.contains("more-waiting"),
        "exactly fifty: none hidden"
    );

    app.release(&project, "4.50.0");
    let queue = waiting(&app.get_html(&page).await);
    assert_eq!(queue.matches("class=\"attempt\"").count(), 50);
    assert!(queue.contains(">4.0.0</a>"), "oldest first");
    assert!(!queue.contains(">4.50.0</a>"), "the newest waits behind");
    assert!(queue.contains("id=\"more-waiting\""));
}

#[tokio::test]
async fn the_environment_page_shows_what_is_live_waiting_and_the_history() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let a = app.release(&project, "3.0.0");
    app.succeed_next();
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
