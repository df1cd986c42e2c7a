//! The fixed cost of a request, in SQL: what a signed-in page runs before
//! its own work (the session, the user, the header's count), and that a
//! plain GET writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use stagecoach::db::local_pg::LocalPostgres;
use stagecoach::db::schema::sessions;
use stagecoach::domain::demo;
use stagecoach::domain::ids::EnvironmentId;
use stagecoach::startup::Application;

use crate::helpers::{Statements, TestApp, new_client, spawn_app_with, test_settings};

async fn quiet_app() -> TestApp {
    spawn_app_with(|s| s.deployment_workers = 0).await
}

/// A user who approves in the demo project's Production (so the header's
/// count has grants and teams to look through), signed in on their client.
async fn approver(app: &TestApp) -> reqwest::Client {
    let user = app.create_user("approver", "approver-password-1", false);
    let production =
        EnvironmentId(app.count("SELECT id AS n FROM environments WHERE name = 'Production'"));
    let qa = EnvironmentId(app.count("SELECT id AS n FROM environments WHERE name = 'QA'"));
    app.grant(user.id, production, "approver");
    app.grant(user.id, qa, "viewer");
    let client = new_client();
    let signed_in = app
        .login_with(&client, "approver", "approver-password-1")
        .await;
    assert_eq!(signed_in.status().as_u16(), 303);
    client
}

fn expires_at(app: &TestApp) -> Vec<DateTime<Utc>> {
    sessions::table
        .select(sessions::expires_at)
        .order(sessions::created_at)
        .load(&mut app.conn())
        .unwrap()
}

fn show(label: &str, statements: &Statements) {
    eprintln!("{label}: {} statements", statements.total());
    for (query, calls) in &statements.0 {
        eprintln!("  {calls} × {}", query.replace('\n', " "));
    }
}

#[tokio::test]
async fn a_signed_in_page_runs_one_statement_before_its_own_work() {
    let app = quiet_app().await;
    assert!(demo::seed(&mut app.conn()).unwrap());
    let client = approver(&app).await;
    // The password form does no database work of its own: all it costs is
    // the fixed part (session, user, header count).
    let Some(statements) = app.statements_for_get(&client, "/account/password").await else {
        eprintln!("skipped: the test server does not count statements");
        return;
    };
    show("GET /account/password as an approver", &statements);
    assert_eq!(statements.total(), 1, "{statements:?}");
    app.login_admin().await;
    let statements = app
        .statements_for_get(&app.client, "/account/password")
        .await
        .unwrap();
    show("GET /account/password as admin", &statements);
    assert_eq!(statements.total(), 1, "{statements:?}");
}

#[tokio::test]
async fn pages_read_the_session_user_and_count_once_and_write_nothing() {
    let app = quiet_app().await;
    assert!(demo::seed(&mut app.conn()).unwrap());
    let client = approver(&app).await;
    let project: String = diesel::sql_query("SELECT slug FROM projects LIMIT 1")
        .get_result::<Slug>(&mut app.conn())
        .unwrap()
        .slug;
    #[derive(QueryableByName)]
    struct Slug {
        #[diesel(sql_type = diesel::sql_types::Text)]
        slug: String,
    }
    let release_page = format!("/projects/{project}/releases/2.8.0");
    for path in ["/", release_page.as_str(), "/approvals"] {
        let Some(statements) = app.statements_for_get(&client, path).await else {
            eprintln!("skipped: the test server does not count statements");
            return;
        };
        show(&format!("GET {path} as an approver"), &statements);
        assert_eq!(statements.matching("sessions"), 1, "{statements:?}");
        assert_eq!(statements.matching("UPDATE"), 0, "{statements:?}");
        assert_eq!(statements.matching("INSERT"), 0, "{statements:?}");
        // The user and the header's count come with the session.
        assert_eq!(statements.matching("FROM \"users\""), 0, "{statements:?}");
        assert_eq!(statements.matching("SELECT $1"), 0, "{statements:?}");
    }
}

/// A form's message for the next page travels in a sealed cookie: the POST
/// writes its change and not the session, the page after it shows the
/// message once and writes nothing, and a cookie this server did not make
/// shows nothing.
#[tokio::test]
async fn a_form_post_writes_only_its_change_and_its_message_shows_once() {
    let app = quiet_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let form = format!("/projects/{}/releases/new", project.slug);
    let token = app.csrf_token_with(&app.client, &form).await;
    let fields = [
        ("version", "5.0.0"),
        ("title", "Five"),
        ("csrf_token", token.as_str()),
    ];
    let post = || async {
        app.client
            .post(app.url(&form))
            .form(&fields)
            .send()
            .await
            .unwrap()
    };
    let Some((response, statements)) = app.statements_during(post).await else {
        eprintln!("skipped: the test server does not count statements");
        return;
    };
    show("POST a new release", &statements);
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(statements.matching("\"sessions\""), 0, "{statements:?}");
    assert_eq!(statements.matching("UPDATE sessions"), 0, "{statements:?}");
    assert_eq!(statements.matching("FROM sessions"), 1, "only the load");
    let flash_cookie = response
        .cookies()
        .find(|c| c.name() == "stagecoach-flash")
        .expect("the message's cookie");
    assert!(
        !flash_cookie.value().contains("created"),
        "the message is sealed"
    );
    let stored = app.count("SELECT count(*) AS n FROM sessions WHERE state::text LIKE '%created%'");
    assert_eq!(stored, 0, "no message in the stored session");

    let release_page = crate::helpers::location(&response);
    let (html, statements) = app
        .statements_during(|| async {
            app.client
                .get(app.url(&release_page))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
        .await
        .unwrap();
    assert!(
        html.contains("Release 5.0.0 created"),
        "the message shows on the next page"
    );
    assert_eq!(statements.matching("UPDATE"), 0, "{statements:?}");
    assert_eq!(statements.matching("INSERT"), 0, "{statements:?}");
    let again = app.get_html(&release_page).await;
    assert!(!again.contains("Release 5.0.0 created"), "and only once");

    let forged = reqwest::Client::new()
        .get(app.url("/login"))
        .header(
            "Cookie",
            r#"stagecoach-flash=[{"kind":"Error","message":"Forged words"}]"#,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(forged.contains("Sign in"));
    assert!(!forged.contains("Forged words"));
}

#[tokio::test]
async fn plain_gets_within_a_minute_do_not_write_the_session() {
    let app = quiet_app().await;
    app.login_admin().await;
    let written = expires_at(&app);
    assert_eq!(written.len(), 1);
    for _ in 0..5 {
        assert_eq!(app.get("/").await.status().as_u16(), 200);
        assert_eq!(app.get("/account/password").await.status().as_u16(), 200);
    }
    assert_eq!(expires_at(&app), written, "a plain GET wrote the session");
}

#[tokio::test]
async fn the_idle_expiry_moves_once_it_is_a_minute_behind() {
    let app = quiet_app().await;
    app.login_admin().await;
    // As if the last write were 30 s ago: within the minute, left alone.
    diesel::sql_query("UPDATE sessions SET expires_at = now() + interval '29 minutes 30 seconds'")
        .execute(&mut app.conn())
        .unwrap();
    let recent = expires_at(&app);
    assert_eq!(app.get("/").await.status().as_u16(), 200);
    assert_eq!(expires_at(&app), recent);
    // As if it were 2 minutes ago: pushed to 30 minutes from now.
    diesel::sql_query("UPDATE sessions SET expires_at = now() + interval '28 minutes'")
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(app.get("/").await.status().as_u16(), 200);
    let moved = expires_at(&app)[0];
    let ahead = moved - Utc::now();
    assert!(
        ahead > chrono::Duration::minutes(29) + chrono::Duration::seconds(50)
            && ahead <= chrono::Duration::minutes(30),
        "the idle expiry is {ahead} ahead"
    );
    // And an idle session still ends: past its expiry, the login page.
    diesel::sql_query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&mut app.conn())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(app.get("/").await.status().as_u16(), 303);
}

#[tokio::test]
async fn after_the_database_restarts_the_first_request_finds_a_working_connection() {
    // A cluster of its own, so stopping it disturbs no other test.
    let dir = crate::health::tempdir("restart");
    let cluster = LocalPostgres::start(&dir, true).expect("starting a cluster");
    cluster.create_database("stagecoach").unwrap();
    let mut settings = test_settings(&cluster.database_url("stagecoach"));
    // A polling worker would find the dead connections first.
    settings.deployment_workers = 0;
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", app.port());
    tokio::spawn(app.run_until_stopped());
    // A new client each time: a kept-alive HTTP connection may have been
    // closed by the server while the database restarted.
    let ready = || async {
        let response = new_client().get(&url).send().await.unwrap();
        response.status().as_u16()
    };
    assert_eq!(ready().await, 200);

    // The pooled connections now lead to a server that is gone. Checkouts
    // are not tested, but a connection that sat idle is checked first.
    cluster.force_stop().unwrap();
    let cluster = LocalPostgres::start(&dir, true).expect("restarting the cluster");
    tokio::time::sleep(stagecoach::db::IDLE_CHECK_AFTER + Duration::from_millis(200)).await;
    let first = ready().await;
    cluster.force_stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(first, 200, "the first request after the restart failed");
}

#[tokio::test]
async fn probes_and_static_files_read_nothing_even_with_a_session_cookie() {
    let app = quiet_app().await;
    assert!(demo::seed(&mut app.conn()).unwrap());
    // A signed-in browser sends its session cookie with every request,
    // stylesheets and scripts included.
    let client = approver(&app).await;
    for path in ["/static/app.css", "/static/app.js", "/healthz"] {
        let Some(statements) = app.statements_for_get(&client, path).await else {
            eprintln!("skipped: the test server does not count statements");
            return;
        };
        show(path, &statements);
        assert_eq!(statements.total(), 0, "GET {path} ran SQL");
    }
    // The session still works for pages after them.
    let page = app.get_with(&client, "/approvals").await;
    assert_eq!(page.status().as_u16(), 200);
}

#[tokio::test]
async fn pooled_connections_plan_generically_and_never_in_parallel() {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let app = quiet_app().await;
    let mut conn = app.conn();
    let mut show = |name: &str| {
        diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
            .get_result::<Setting>(&mut conn)
            .unwrap()
            .value
    };
    assert_eq!(show("plan_cache_mode"), "force_generic_plan");
    // A parallel worker costs milliseconds to start; at 100,000 releases a
    // generic plan chose one to read one index entry (bench/README.md).
    assert_eq!(show("max_parallel_workers_per_gather"), "0");
}

/// The header's count is made once per snapshot: the session's load given
/// the snapshot it last counted under skips the count while that is still
/// the database's (one transaction holds it still here), and counts again
/// under any other.
#[tokio::test]
async fn the_session_load_counts_again_only_under_a_new_snapshot() {
    use stagecoach::domain::sessions::load;
    let app = quiet_app().await;
    app.login_admin().await;
    let hash = sessions::table
        .select(sessions::key_hash)
        .first::<String>(&mut app.conn())
        .unwrap();
    let mut conn = app.connect();
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| -> QueryResult<()> {
            let first = load(conn, &hash, Utc::now(), None)?.unwrap();
            assert_eq!(first.pending_approvals, Some(0));
            let again = load(conn, &hash, Utc::now(), Some(&first.snapshot))?.unwrap();
            assert_eq!(again.pending_approvals, None, "counted again");
            assert_eq!(again.snapshot, first.snapshot);
            let other = load(conn, &hash, Utc::now(), Some("1:1:"))?.unwrap();
            assert_eq!(other.pending_approvals, Some(0));
            Ok(())
        })
        .unwrap();
}
