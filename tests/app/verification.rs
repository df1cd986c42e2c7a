//! Verification after deploying: checks tried until all pass together or
//! their time runs out, the evidence in the log, a failed release blocked,
//! and the automatic rollback. A small HTTP server stands in for the
//! application being deployed: healthy, failing, slow and flapping. Most
//! tests run on a clock they choose (`Clock::jumping`), so minutes of
//! checking take milliseconds with the same arithmetic.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use stagecoach::db::schema::{deployment_logs, deployments, release_blocks};
use stagecoach::domain::checks::{self, CheckInput};
use stagecoach::domain::deployments::{self as deployment_domain, DeployInput};
use stagecoach::domain::environments::Environment;
use stagecoach::domain::ids::{EnvironmentId, ReleaseId};
use stagecoach::domain::rejection::Rejection;
use stagecoach::worker::clock::Clock;

use crate::helpers::fixtures::{admin, policy, set_var};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The application being deployed, by path: `/healthy` answers 200 "ok",
/// `/failing` 503, `/slow` answers after 3 s, `/flap/<name>` alternates
/// (names starting with `up` begin healthy, others failing), and
/// `/app/<version>` is healthy unless the version is one of `bad`.
pub(crate) struct AppUnderTest {
    pub(crate) base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl AppUnderTest {
    pub(crate) fn start(bad: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let bad: Vec<String> = bad.iter().map(|b| (*b).to_owned()).collect();
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (hits, bad) = (counted.clone(), bad.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request = String::new();
                    let _ = reader.read_line(&mut request);
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    // A body (an event webhook's) is read before answering.
                    let mut body = vec![0; length];
                    let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    let path = request.split(' ').nth(1).unwrap_or("").to_owned();
                    let n = {
                        let mut hits = hits.lock().unwrap();
                        let n = hits.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let healthy = if path == "/healthy" {
                        true
                    } else if path == "/slow" {
                        std::thread::sleep(Duration::from_secs(3));
                        true
                    } else if let Some(name) = path.strip_prefix("/flap/") {
                        (n % 2 == 1) == name.starts_with("up")
                    } else if let Some(version) = path.strip_prefix("/app/") {
                        !bad.iter().any(|b| b == version)
                    } else {
                        false
                    };
                    let (status, body) = if healthy {
                        ("200 OK", "ok")
                    } else {
                        ("503 Service Unavailable", "database unreachable")
                    };
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        Self { base, hits }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn http_check(app: &TestApp, env: &Environment, name: &str, url: &str, every: i32, within: i32) {
    checks::add(
        &mut app.conn(),
        &admin(),
        env,
        &CheckInput {
            kind: "http".into(),
            name: name.into(),
            url: url.into(),
            expect_status: "200".into(),
            expect_text: "ok".into(),
            interval_seconds: every.to_string(),
            within_seconds: within.to_string(),
            ..CheckInput::blank()
        },
    )
    .unwrap();
}

/// The newest deployment of the release there: id, note, failed
/// verification, verifying since.
fn newest(app: &TestApp, release: ReleaseId, env: EnvironmentId) -> (i64, String, bool, bool) {
    let (id, note, failed, since): (i64, String, bool, Option<chrono::DateTime<chrono::Utc>>) =
        deployments::table
            .filter(deployments::release_id.eq(release))
            .filter(deployments::environment_id.eq(env))
            .order(deployments::id.desc())
            .select((
                deployments::id,
                deployments::note,
                deployments::failed_verification,
                deployments::verifying_since,
            ))
            .first(&mut app.conn())
            .unwrap();
    (id, note, failed, since.is_some())
}

fn log_of(app: &TestApp, deployment: i64) -> String {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment))
        .order(deployment_logs::id.asc())
        .select(deployment_logs::line)
        .load::<String>(&mut app.conn())
        .unwrap()
        .join("\n")
}

async fn jumping_app() -> TestApp {
    spawn_app_with(|s| s.worker.clock = Clock::jumping()).await
}

#[tokio::test]
async fn a_healthy_app_passes_its_checks_and_the_deployment_succeeds_with_the_evidence() {
    let app = spawn_app().await;
    let under_test = AppUnderTest::start(&[]);
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    http_check(
        &app,
        dev,
        "health",
        &format!("{}/healthy", under_test.base),
        1,
        30,
    );
    checks::add(
        &mut app.conn(),
        &admin(),
        dev,
        &CheckInput {
            kind: "script".into(),
            name: "smoke".into(),
            script: "test \"$STAGECOACH_ENVIRONMENT\" = Development && echo smoke ok".into(),
            ..CheckInput::blank()
        },
    )
    .unwrap();
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "succeeded").await;
    let (id, note, failed, verified) = newest(&app, release.id, dev.id);
    assert!(verified, "verifying_since is recorded");
    assert!(!failed);
    assert_eq!(note, "");
    let log = log_of(&app, id);
    for expected in [
        "Verifying: 2 checks until all pass together.",
        "+0 s ✔ health: HTTP 200",
        "+0 s ✔ smoke: exit code 0",
        "smoke ok",
        "✔ Verified: all 2 checks passed together at +0 s.",
    ] {
        assert!(log.contains(expected), "{expected:?} not in\n{log}");
    }
    assert_eq!(under_test.hits("/healthy"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.verifying'"),
        1
    );
    // No block: the release may go on.
    assert_eq!(app.count("SELECT count(*) AS n FROM release_blocks"), 0);
}

#[tokio::test]
async fn a_failing_app_fails_verification_on_the_chosen_clock_and_the_release_is_blocked() {
    let app = jumping_app().await;
    app.login_admin().await;
    let under_test = AppUnderTest::start(&[]);
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (&pipeline[0], &pipeline[1]);
    // Every 30 s for 2 minutes: tries at +0, +30, +60, +90 and +120 s.
    http_check(
        &app,
        dev,
        "health",
        &format!("{}/failing", under_test.base),
        30,
        120,
    );
    let started = Instant::now();
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "failed").await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "two minutes of checks took {:?} on the chosen clock",
        started.elapsed()
    );
    assert_eq!(under_test.hits("/failing"), 5);
    let (id, note, failed, _) = newest(&app, release.id, dev.id);
    assert!(failed, "marked as a failed verification");
    assert!(
        note.starts_with(
            "Verification failed: check “health” still failed after 120 s: HTTP 503, expected 200"
        ),
        "{note}"
    );
    assert!(note.contains("Stagecoach blocked 1.0.0"), "{note}");
    let log = log_of(&app, id);
    for at in [0, 30, 60, 90, 120] {
        assert!(
            log.contains(&format!(
                "+{at} s ✘ health: HTTP 503, expected 200 (“database unreachable”)"
            )),
            "no try at +{at} s in\n{log}"
        );
    }
    assert!(!log.contains("+150 s"), "{log}");

    // Blocked by Stagecoach: nothing of it goes further, by any path.
    let by: Option<i64> = release_blocks::table
        .find(release.id)
        .select(release_blocks::blocked_by)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(by, None);
    let refused = deployment_domain::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: qa.id,
            ..DeployInput::default()
        },
    )
    .unwrap_err();
    match refused {
        Rejection::Refused(why) => assert!(why.contains("blocked by Stagecoach"), "{why}"),
        other => panic!("{other:?}"),
    }
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(
        html.contains("Failed verification in Development"),
        "{html}"
    );
    let deployment = app.get_html(&format!("/deployments/{id}")).await;
    assert!(
        deployment.contains("still failed after 120 s"),
        "{deployment}"
    );
    // A person with the right may unblock it, after looking.
    stagecoach::domain::blocks::unblock(&mut app.conn(), &admin(), release.id).unwrap();
    deployment_domain::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: dev.id,
            ..DeployInput::default()
        },
    )
    .unwrap();
}

#[tokio::test]
async fn checks_must_pass_together_not_one_after_the_other() {
    let app = jumping_app().await;
    let under_test = AppUnderTest::start(&[]);
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    // Two flapping endpoints out of step: each passes every other try,
    // never both at once.
    http_check(
        &app,
        dev,
        "web",
        &format!("{}/flap/up-web", under_test.base),
        10,
        60,
    );
    http_check(
        &app,
        dev,
        "api",
        &format!("{}/flap/down-api", under_test.base),
        10,
        60,
    );
    let apart = app.release(&project, "1.0.0");
    app.wait_for(apart.id, dev.id, "failed").await;
    let (id, note, _, _) = newest(&app, apart.id, dev.id);
    let log = log_of(&app, id);
    assert!(log.contains("+10 s ✔ api: HTTP 200"), "{log}");
    assert!(log.contains("+0 s ✔ web: HTTP 200"), "{log}");
    assert!(note.contains("still failed after 60 s"), "{note}");

    // A steady check beside one that recovers on its second try: both
    // pass at +10 s, and the deployment succeeds then.
    for c in checks::list(&mut app.conn(), dev.id).unwrap() {
        checks::remove(&mut app.conn(), &admin(), dev, c.id).unwrap();
    }
    http_check(
        &app,
        dev,
        "web",
        &format!("{}/healthy", under_test.base),
        10,
        60,
    );
    http_check(
        &app,
        dev,
        "api",
        &format!("{}/flap/down-recovering", under_test.base),
        10,
        60,
    );
    let together = app.release(&project, "1.1.0");
    app.wait_for(together.id, dev.id, "succeeded").await;
    let (id, _, _, _) = newest(&app, together.id, dev.id);
    let log = log_of(&app, id);
    assert!(
        log.contains("all 2 checks passed together at +10 s"),
        "{log}"
    );
    assert_eq!(under_test.hits("/flap/down-recovering"), 2);
}

#[tokio::test]
async fn a_slow_app_is_a_failed_try_with_the_time_it_was_given() {
    // The real clock: the request's own timeout is what is tested.
    let app = spawn_app().await;
    let under_test = AppUnderTest::start(&[]);
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    http_check(
        &app,
        dev,
        "health",
        &format!("{}/slow", under_test.base),
        1,
        2,
    );
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "failed").await;
    let (id, note, failed, _) = newest(&app, release.id, dev.id);
    assert!(failed);
    assert!(note.contains("no answer within 1 s"), "{note}");
    assert!(log_of(&app, id).contains("✘ health: no answer within 1 s"));
}

#[tokio::test]
async fn a_failed_verification_rolls_back_to_the_last_good_release_where_the_policy_says_so() {
    let app = jumping_app().await;
    app.login_admin().await;
    let under_test = AppUnderTest::start(&["2.0.0"]);
    let (project, pipeline) = app.project("Shop");
    let dev = policy(&app, &pipeline[0], |p| {
        p.rollback_on_failed_verification = true
    });
    set_var(&app, &dev, "APP", &under_test.base, false);
    http_check(
        &app,
        &dev,
        "health",
        "${APP}/app/${STAGECOACH_RELEASE_VERSION}",
        10,
        30,
    );
    let good = app.release(&project, "1.0.0");
    app.wait_for(good.id, dev.id, "succeeded").await;
    let bad = app.release(&project, "2.0.0");
    app.wait_for(bad.id, dev.id, "failed").await;
    let (_, note, failed, _) = newest(&app, bad.id, dev.id);
    assert!(failed);
    assert!(
        note.contains("Rolling back to 1.0.0: deployment #"),
        "{note}"
    );
    // The rollback is a deployment of its own: marked, caused by the
    // failed verification, verified again, and it succeeds.
    app.wait_for(good.id, dev.id, "succeeded").await;
    let mut conn = app.conn();
    let (rollback, cause, comment): (bool, String, String) = deployments::table
        .filter(deployments::release_id.eq(good.id))
        .order(deployments::id.desc())
        .select((
            deployments::is_rollback,
            deployments::cause,
            deployments::comment,
        ))
        .first(&mut conn)
        .unwrap();
    let attempts: i64 = deployments::table
        .filter(deployments::release_id.eq(good.id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    drop(conn);
    assert!(rollback);
    assert_eq!(cause, "verification");
    assert_eq!(comment, "Automatic rollback: 2.0.0 failed verification.");
    assert_eq!(attempts, 2);
    assert_eq!(
        under_test.hits("/app/1.0.0"),
        2,
        "the rollback verified again"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.requested' AND details->>'cause' = 'verification' AND details->>'rollback' = 'true'"),
        1
    );
    let html = app
        .get_html("/projects/shop/environments/development")
        .await;
    assert!(html.contains("Automatic rollback"), "{html}");
}

#[tokio::test]
async fn the_database_starts_an_automatic_rollback_only_where_the_policy_asks() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, dev.id, "succeeded").await;
    let raw = |rollback: bool| {
        diesel::sql_query(format!(
            "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status, is_rollback, cause) \
             SELECT id, release_id, environment_id, 9, 'queued', {rollback}, 'verification' \
               FROM environment_releases WHERE release_id = {}",
            release.id
        ))
        .execute(&mut app.conn())
    };
    let refused = raw(true).unwrap_err().to_string();
    assert!(
        refused.contains("does not start deployments by verification"),
        "{refused}"
    );
    policy(&app, dev, |p| p.rollback_on_failed_verification = true);
    let refused = raw(false).unwrap_err().to_string();
    assert!(
        refused.contains("does not start deployments by verification"),
        "{refused}"
    );
    raw(true).unwrap();
}

#[tokio::test]
async fn the_check_form_keeps_what_was_typed_and_names_each_problem() {
    let app = spawn_app().await;
    app.login_admin().await;
    app.project("Shop");
    let page = "/admin/projects/shop/environments/development/settings";
    let response = app
        .post_form(
            "/admin/projects/shop/environments/development/checks",
            page,
            &[
                ("kind", "http"),
                ("name", "health <b>"),
                ("url", "https://${HOST/health"),
                ("expect_status", "99"),
                ("expect_text", "ok"),
                ("interval_seconds", "5"),
                ("within_seconds", "0"),
                ("script", ""),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("has no closing }"), "{html}");
    assert!(
        html.contains("Use a whole number from 100 to 599."),
        "{html}"
    );
    assert!(
        html.contains("Use a whole number of seconds from 1 to 86,400."),
        "{html}"
    );
    assert!(html.contains("value=\"health &#60;b&#62;\""), "{html}");
    assert!(html.contains("value=\"https://${HOST/health\""), "{html}");
    assert_eq!(app.count("SELECT count(*) AS n FROM checks"), 0);

    let response = app
        .post_form(
            "/admin/projects/shop/environments/development/checks",
            page,
            &[
                ("kind", "http"),
                ("name", "health"),
                ("url", "https://${HOST}/health"),
                ("expect_status", "200"),
                ("expect_text", "ok"),
                ("interval_seconds", "5"),
                ("within_seconds", "60"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app.get_html(page).await;
    assert!(
        html.contains("GET https://${HOST}/health answers 200 containing “ok”"),
        "{html}"
    );
    assert!(html.contains("every 5 s for up to 60 s"), "{html}");
    let id: i64 = app.count("SELECT max(id) AS n FROM checks");
    let response = app
        .post_form(
            &format!("/admin/projects/shop/environments/development/checks/{id}/remove"),
            page,
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(app.count("SELECT count(*) AS n FROM checks"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action IN ('check.added', 'check.removed')"),
        2
    );

    // The automatic rollback is a box of the policy form.
    let response = app
        .post_form(
            "/admin/projects/shop/environments/development/policy",
            page,
            &[
                ("max_running", "1"),
                ("queue_policy", "all"),
                ("required_approvals", "0"),
                ("approval_timeout_hours", "168"),
                ("trigger", "on_release"),
                ("soak_minutes", "0"),
                ("rollback_on_failed_verification", "1"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM environments WHERE rollback_on_failed_verification"),
        1
    );
    assert!(app
        .get_html(page)
        .await
        .contains("name=\"rollback_on_failed_verification\" id=\"rollback_on_failed_verification\" value=\"1\" checked"));
}

#[tokio::test]
async fn the_database_refuses_a_check_or_a_verification_state_that_cannot_be() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let refused = |sql: String| {
        diesel::sql_query(sql)
            .execute(&mut app.conn())
            .unwrap_err()
            .to_string()
    };
    let env = pipeline[0].id;
    for (sql, constraint) in [
        (
            format!(
                "INSERT INTO checks (environment_id, position, kind, name) VALUES ({env}, 0, 'http', 'health')"
            ),
            "checks_http_has_url",
        ),
        (
            format!(
                "INSERT INTO checks (environment_id, position, kind, name, url) VALUES ({env}, 0, 'script', 'smoke', 'https://x')"
            ),
            "checks_http_has_url",
        ),
        (
            format!(
                "INSERT INTO checks (environment_id, position, kind, name, script) VALUES ({env}, 0, 'script', 'smoke', '  ')"
            ),
            "checks_script_has_script",
        ),
        (
            format!(
                "UPDATE deployments SET verifying_since = now() WHERE release_id = {}",
                release.id
            ),
            "deployments_verifying_while_running",
        ),
        (
            format!(
                "UPDATE deployments SET failed_verification = true WHERE release_id = {}",
                release.id
            ),
            "deployments_failed_verification_is_failed",
        ),
    ] {
        let err = refused(sql.clone());
        assert!(err.contains(constraint), "{sql}: {err}");
    }
}

/// While its checks run, a deployment reads "verifying" wherever it is
/// listed: its environment's page and its release's page, and the
/// pipeline's chip on the dashboard and the project page, not "running".
#[tokio::test]
async fn a_verifying_deployment_reads_verifying_on_every_page_that_lists_it() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    checks::add(
        &mut app.conn(),
        &admin(),
        dev,
        &CheckInput {
            kind: "script".into(),
            name: "slow".into(),
            script: "sleep 5".into(),
            ..CheckInput::blank()
        },
    )
    .unwrap();
    let release = app.release(&project, "1.0.0");
    let started = std::time::Instant::now();
    while !newest(&app, release.id, dev.id).3 {
        assert!(started.elapsed().as_secs() < 20, "never verifying");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for page in [
        format!("/projects/{}/environments/{}", project.slug, dev.slug),
        format!("/projects/{}/releases/1.0.0", project.slug),
    ] {
        let html = app.get_html(&page).await;
        assert!(
            html.contains("chip-verifying\"") && html.contains(">verifying<"),
            "{page} does not say verifying"
        );
    }
    for page in ["/".to_owned(), format!("/projects/{}", project.slug)] {
        let html = app.get_html(&page).await;
        assert!(
            html.contains("chip chip-verifying\"") && html.contains("1.0.0: verifying<"),
            "{page}'s pipeline does not say verifying"
        );
    }
}
