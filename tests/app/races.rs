//! Races through the front doors: the same form sent twice at once, the
//! same API call retried at once without an idempotency key, approvals
//! from a page and from the API at the same instant, and releases created
//! at the same instant into an environment that runs one at a time. Each
//! runs several rounds and checks the rules after every round.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use stagecoach::domain::releases;

use crate::api;
use crate::helpers::fixtures::{admin, policy};
use crate::helpers::{TestApp, csrf_token_in, spawn_app, spawn_app_with};

/// Every rule the fault tests check, counted on the app's database.
fn assert_rules(app: &TestApp, when: &str) {
    for (rule, sql) in crate::faults::INVARIANTS {
        assert_eq!(app.count(sql), 0, "{when}: {rule}");
    }
}

/// The `seen` field of the deploy form for `environment` on a release page.
fn seen_in_form(html: &str, environment: &str) -> String {
    let form = html
        .split(&format!("name=\"environment\" value=\"{environment}\""))
        .nth(1)
        .expect("a deploy form for the environment");
    let after = form.split("name=\"seen\" value=\"").nth(1).expect("seen");
    after[..after.find('"').unwrap()].to_owned()
}

/// The same form, with the same CSRF token, sent twice at the same
/// instant (a double click): one release, one deployment, whichever way
/// their timing falls (the first may already have run to success when the
/// second arrives); the second submission gets the form back saying why.
#[tokio::test]
async fn a_double_submitted_form_makes_one_release_and_one_deployment() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let form_path = format!("/projects/{}/releases/new", project.slug);
    for round in 0..8 {
        let version = format!("5.{round}.0");
        let token = csrf_token_in(&app.get_html(&form_path).await);
        let fields = [
            ("version", version.as_str()),
            ("title", "Twice"),
            ("csrf_token", token.as_str()),
        ];
        let statuses: Vec<u16> =
            join_all((0..2).map(|_| app.client.post(app.url(&form_path)).form(&fields).send()))
                .await
                .into_iter()
                .map(|r| r.expect("an answer").status().as_u16())
                .collect();
        assert!(
            statuses.contains(&303) && statuses.iter().all(|s| *s == 303 || *s == 422),
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM releases WHERE version = '{version}'"
            )),
            1,
            "round {round}: one release"
        );
        let release = releases::find(&mut app.conn(), project.id, &version)
            .unwrap()
            .unwrap();
        app.wait_for(release.id, pipeline[0].id, "succeeded").await;

        let page = format!("/projects/{}/releases/{version}", project.slug);
        let html = app.get_html(&page).await;
        let token = csrf_token_in(&html);
        let seen = seen_in_form(&html, "qa");
        let fields = [
            ("environment", "qa"),
            ("seen", seen.as_str()),
            ("csrf_token", token.as_str()),
        ];
        let mut statuses: Vec<u16> = join_all((0..2).map(|_| {
            app.client
                .post(app.url(&format!("{page}/deploy")))
                .form(&fields)
                .send()
        }))
        .await
        .into_iter()
        .map(|r| r.expect("an answer").status().as_u16())
        .collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [303, 422], "round {round}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
                release.id, pipeline[1].id
            )),
            1,
            "round {round}: one deployment into QA"
        );
        assert_rules(&app, &format!("round {round}"));
    }
}

/// CI retrying the same call eight times at once with no idempotency key:
/// one release (the others answer 200 with it, as the same content sent
/// again does), then one deployment (the others are refused as already
/// under way).
#[tokio::test]
async fn api_calls_retried_at_once_without_a_key_make_one_release_and_one_deployment() {
    // No worker: the first deployment stays queued while the retries come.
    // (A retry without a key after it has finished is a new request, as
    // the API reference says: that is what idempotency keys are for.)
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = api::world(&app);
    let secret = api::token(&app, user, "", &[]);
    let pipeline = stagecoach::domain::environments::list(&mut app.conn(), project.id).unwrap();
    let releases_path = format!("/api/v1/projects/{}/releases", project.slug);
    for round in 0..6 {
        let version = format!("6.{round}.0");
        let body = json!({ "version": version, "title": "Retried" });
        let answers =
            join_all((0..8).map(|_| api::post(&app, &releases_path, &secret, body.clone()))).await;
        let created = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(created, 1, "round {round}: {answers:?}");
        assert!(
            answers.iter().all(|(s, _)| *s == 201 || *s == 200),
            "round {round}: {answers:?}"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM releases WHERE version = '{version}'"
            )),
            1
        );
        let release = releases::find(&mut app.conn(), project.id, &version)
            .unwrap()
            .unwrap();
        // Development deploys by hand in this world: ask for it once.
        let deploy = format!(
            "/api/v1/projects/{}/releases/{version}/deployments",
            project.slug
        );
        let answers = join_all((0..8).map(|_| {
            api::post(
                &app,
                &deploy,
                &secret,
                json!({ "environment": "development" }),
            )
        }))
        .await;
        let accepted = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(accepted, 1, "round {round}: {answers:?}");
        assert!(
            answers.iter().all(|(s, _)| *s == 201 || *s == 409),
            "round {round}: {answers:?}"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
                release.id, pipeline[0].id
            )),
            1,
            "round {round}: one deployment"
        );
        assert_rules(&app, &format!("round {round}"));
    }
}

/// Two approvers of a deployment that needs both, one on the approvals
/// page and one through the API, at the same instant: both are counted,
/// it is queued once, and the audit has each approval once.
#[tokio::test]
async fn approvals_from_a_page_and_the_api_at_the_same_instant_are_both_counted_once() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    policy(&app, &pipeline[1], |p| p.required_approvals = "2".into());
    let ann = app.create_user("ann", "ann-password-123", false);
    let ben = app.create_user("ben", "ben-password-123", false);
    for person in [&ann, &ben] {
        app.grant(person.id, pipeline[1].id, "approver");
    }
    let web = crate::helpers::new_client();
    app.login_with(&web, "ann", "ann-password-123").await;
    let secret = api::token(&app, ben.id, "", &[]);
    for round in 0..6 {
        let release = app.release(&project, &format!("7.{round}.0"));
        app.succeed_next();
        let waiting = stagecoach::domain::deployments::request(
            &mut app.conn(),
            &admin(),
            release.id,
            &stagecoach::domain::deployments::DeployInput {
                environment_id: pipeline[1].id,
                ..Default::default()
            },
        )
        .unwrap();
        let token = app.csrf_token_with(&web, "/approvals").await;
        let by_page = web
            .post(app.url(&format!("/deployments/{}/approve", waiting.id)))
            .form(&[("comment", "page"), ("csrf_token", token.as_str())])
            .send();
        let approve = format!("/api/v1/deployments/{}/approve", waiting.id);
        let by_api = api::post(&app, &approve, &secret, json!({ "comment": "api" }));
        let (page, (api_status, body)) = tokio::join!(by_page, by_api);
        assert_eq!(page.unwrap().status().as_u16(), 303, "round {round}");
        assert_eq!(api_status, 200, "round {round}: {body}");
        let id = waiting.id;
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM approvals WHERE deployment_id = {id} AND decision = 'approve'"
            )),
            2,
            "round {round}: both counted"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.queued' AND object_id = '{id}'"
            )),
            1,
            "round {round}: queued once"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.approved' AND object_id = '{id}'"
            )),
            2,
            "round {round}: each approval audited once"
        );
        assert_eq!(
            app.status(release.id, pipeline[1].id).as_deref(),
            Some("queued")
        );
        stagecoach::domain::deployments::cancel(&mut app.conn(), &admin(), id).unwrap();
        assert_rules(&app, &format!("round {round}"));
    }
}

/// Releases created at the same instant into an environment that runs one
/// deployment at a time, with three workers free to take them: they run
/// one after another, never two at once (no two runs' intervals overlap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_created_at_once_into_a_one_at_a_time_environment_never_run_together() {
    const ROUNDS: usize = 4;
    const AT_ONCE: usize = 3;
    let app = spawn_app_with(|s| s.deployment_workers = 3).await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    app.queue_policy(dev, "1", "all");
    crate::helpers::fixtures::add_script(&app, dev, "wait", "sleep 0.2", 30);
    for round in 0..ROUNDS {
        let barrier = std::sync::Barrier::new(AT_ONCE);
        std::thread::scope(|scope| {
            for n in 0..AT_ONCE {
                let (mut conn, barrier, project) = (app.connect(), &barrier, &project);
                scope.spawn(move || {
                    barrier.wait();
                    releases::create(
                        &mut conn,
                        &admin(),
                        project,
                        &releases::ReleaseInput {
                            version: format!("8.{round}.{n}"),
                            title: "At once".into(),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                });
            }
        });
        let done = Instant::now();
        while app.count(&format!(
            "SELECT count(*) AS n FROM deployments WHERE environment_id = {} AND status = 'succeeded'",
            dev.id
        )) < ((round + 1) * AT_ONCE) as i64
        {
            assert!(
                done.elapsed() < Duration::from_secs(30),
                "round {round}: not all ran"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM deployments a JOIN deployments b \
                   ON a.environment_id = b.environment_id AND a.id < b.id \
                 WHERE a.environment_id = {} \
                   AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)",
                dev.id
            )),
            0,
            "round {round}: two ran at once"
        );
        assert_rules(&app, &format!("round {round}"));
    }
}
