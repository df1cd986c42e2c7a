//! Approvals, deferrals, not-before times, windows, automatic promotion and
//! "deploy as far as".

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use stagecoach::domain::approvals::{self, Decided, Decision};
use stagecoach::domain::audit::Actor;
use stagecoach::domain::deployments::{self, DeployInput};
use stagecoach::domain::environments::{self, Environment};
use stagecoach::domain::ids::{DeploymentId, EnvironmentId, ReleaseId};
use stagecoach::domain::users::User;

use crate::helpers::fixtures::{admin, person, policy};
use crate::helpers::{TestApp, location, new_client, spawn_app};

/// A project whose QA needs `required` approvals, a release that succeeded
/// in Development, and approvers on QA.
async fn setup(app: &TestApp, required: &str) -> (Vec<Environment>, ReleaseId, Vec<User>) {
    let (project, pipeline) = app.project("Shop");
    policy(app, &pipeline[1], |p| {
        p.required_approvals = required.to_owned()
    });
    let release = app.release(&project, "1.0.0");
    // Run it here when the test has no worker.
    if let Some(d) = app.claim() {
        app.finish(d.id, &deployments::Outcome::Succeeded);
    }
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let approvers: Vec<User> = ["ann", "ben", "cat"]
        .iter()
        .map(|name| {
            let user = app.create_user(name, &format!("{name}-password-123"), false);
            app.grant(user.id, pipeline[1].id, "approver");
            user
        })
        .collect();
    let pipeline = environments::list(&mut app.conn(), project.id).unwrap();
    (pipeline, release.id, approvers)
}

fn request_as(
    app: &TestApp,
    actor: &Actor,
    release: ReleaseId,
    env: EnvironmentId,
) -> deployments::Deployment {
    deployments::request(
        &mut app.conn(),
        actor,
        release,
        &DeployInput {
            environment_id: env,
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_deployment_needs_its_number_of_distinct_approvers_and_then_runs() {
    let app = spawn_app().await;
    let (pipeline, release, people) = setup(&app, "2").await;
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    assert_eq!(d.status.as_str(), "awaiting_approval");
    let ann = person(&people[0]);
    assert_eq!(
        approvals::decide(&mut app.conn(), &ann, d.id, &Decision::Approve, "ok").unwrap(),
        Decided::Counted(1, 2)
    );
    // The same approver again (double click, second tab) counts once.
    assert!(approvals::decide(&mut app.conn(), &ann, d.id, &Decision::Approve, "again").is_err());
    assert_eq!(
        app.status(release, pipeline[1].id).as_deref(),
        Some("awaiting_approval")
    );
    assert_eq!(
        approvals::decide(
            &mut app.conn(),
            &person(&people[1]),
            d.id,
            &Decision::Approve,
            ""
        )
        .unwrap(),
        Decided::Queued
    );
    app.wait_for(release, pipeline[1].id, "succeeded").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM approvals"), 2);
}

#[tokio::test]
async fn the_requester_may_not_approve_their_own_deployment_unless_allowed() {
    let app = spawn_app().await;
    let (pipeline, release, people) = setup(&app, "1").await;
    let ann = person(&people[0]);
    // Asking needs the deployer role there (the database holds it too).
    app.grant(people[0].id, pipeline[1].id, "deployer");
    let d = request_as(&app, &ann, release, pipeline[1].id);
    let err = approvals::decide(&mut app.conn(), &ann, d.id, &Decision::Approve, "").unwrap_err();
    assert!(err.to_string().contains("someone else must approve"));
    policy(&app, &pipeline[1], |p| p.allow_self_approval = true);
    assert_eq!(
        approvals::decide(&mut app.conn(), &ann, d.id, &Decision::Approve, "").unwrap(),
        Decided::Queued
    );
}

#[tokio::test]
async fn one_rejection_ends_it() {
    let app = spawn_app().await;
    let (pipeline, release, people) = setup(&app, "2").await;
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    approvals::decide(
        &mut app.conn(),
        &person(&people[0]),
        d.id,
        &Decision::Approve,
        "",
    )
    .unwrap();
    assert_eq!(
        approvals::decide(
            &mut app.conn(),
            &person(&people[1]),
            d.id,
            &Decision::Reject,
            "not today"
        )
        .unwrap(),
        Decided::Rejected
    );
    assert_eq!(
        app.status(release, pipeline[1].id).as_deref(),
        Some("rejected")
    );
    assert!(
        approvals::decide(
            &mut app.conn(),
            &person(&people[2]),
            d.id,
            &Decision::Approve,
            ""
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_deployment_not_approved_in_time_is_rejected() {
    let app = spawn_app().await;
    let (pipeline, release, _) = setup(&app, "1").await;
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    let deadline = d.approval_deadline.unwrap();
    let hours = (deadline - Utc::now()).num_hours();
    assert!(
        (167..=168).contains(&hours),
        "seven days by default, got {hours} h"
    );
    diesel::sql_query(format!(
        "UPDATE deployments SET approval_deadline = now() - interval '1 minute' WHERE id = {}",
        d.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    // The worker sweeps it.
    app.wait_for(release, pipeline[1].id, "rejected").await;
    let note: String = diesel::sql_query(format!(
        "SELECT note AS n FROM deployments WHERE id = {}",
        d.id
    ))
    .get_result::<Note>(&mut app.conn())
    .unwrap()
    .n;
    assert_eq!(note, "Approval timed out.");
}

#[derive(QueryableByName)]
struct Note {
    #[diesel(sql_type = diesel::sql_types::Text)]
    n: String,
}

#[tokio::test]
async fn a_deferral_and_a_requested_not_before_hold_the_deployment_until_their_time() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (pipeline, release, people) = setup(&app, "1").await;
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    let later = Utc::now() + chrono::Duration::hours(3);
    assert_eq!(
        approvals::decide(
            &mut app.conn(),
            &person(&people[0]),
            d.id,
            &Decision::Defer(later),
            "after the sale"
        )
        .unwrap(),
        Decided::Queued
    );
    assert!(app.claim().is_none(), "not before its time");
    diesel::sql_query(format!(
        "UPDATE deployments SET not_before = now() - interval '1 second' WHERE id = {}",
        d.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    assert_eq!(app.claim().unwrap().id, d.id);

    // A requester's own not-before works the same, without approvals.
    let (project, _) = app.project("Other");
    let other = app.release(&project, "9.0.0");
    let first = DeploymentId(app.count(&format!(
        "SELECT id AS n FROM deployments WHERE release_id = {}",
        other.id
    )));
    deployments::cancel(&mut app.conn(), &admin(), first).unwrap();
    let env = EnvironmentId(app.count(&format!(
        "SELECT first_environment_id AS n FROM releases WHERE id = {}",
        other.id
    )));
    deployments::request(
        &mut app.conn(),
        &admin(),
        other.id,
        &DeployInput {
            environment_id: env,
            not_before: Some(later),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(app.claim().is_none());
}

#[tokio::test]
async fn the_deployment_window_is_judged_in_its_time_zone() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    // Weekdays 09:00-17:00 in Berlin (UTC+1 in November).
    let env = policy(&app, &pipeline[0], |p| {
        p.window_days = ["1", "2", "3", "4", "5"].map(String::from).to_vec();
        p.window_start = "09:00".into();
        p.window_end = "17:00".into();
        p.window_time_zone = "Europe/Berlin".into();
    });
    assert_eq!(
        env.window_text().unwrap(),
        "Mon, Tue, Wed, Thu, Fri, 09:00–17:00 Europe/Berlin"
    );
    let open_at = |instant: &str| -> bool {
        #[derive(QueryableByName)]
        struct Open {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            open: bool,
        }
        diesel::sql_query(format!(
            "SELECT environment_window_open(e, '{instant}'::timestamptz) AS open FROM environments e WHERE id = {}",
            env.id
        ))
        .get_result::<Open>(&mut app.conn())
        .unwrap()
        .open
    };
    assert!(open_at("2026-11-23 08:30:00+00"), "Monday 09:30 in Berlin");
    assert!(!open_at("2026-11-23 07:30:00+00"), "Monday 08:30 in Berlin");
    assert!(
        !open_at("2026-11-23 16:00:00+00"),
        "Monday 17:00 in Berlin: closed"
    );
    assert!(!open_at("2026-11-22 10:00:00+00"), "Sunday");
    // Closed on Sunday noon: it next opens Monday 09:00 in Berlin.
    let next: i64 = app.count(&format!(
        "SELECT extract(epoch FROM environment_window_next_open(e, '2026-11-22 12:00:00+00'))::bigint AS n FROM environments e WHERE id = {}",
        env.id
    ));
    assert_eq!(
        next,
        chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .timestamp()
    );
    // A window over midnight.
    let night = policy(&app, &pipeline[1], |p| {
        p.window_start = "22:00".into();
        p.window_end = "02:00".into();
    });
    let night_open = |instant: &str| -> bool {
        app.count(&format!(
            "SELECT environment_window_open(e, '{instant}'::timestamptz)::int::bigint AS n FROM environments e WHERE id = {}",
            night.id
        )) == 1
    };
    assert!(night_open("2026-11-23 23:00:00+00") && night_open("2026-11-24 01:00:00+00"));
    assert!(!night_open("2026-11-23 12:00:00+00"));

    // The worker starts nothing while the window is closed.
    let now = Utc::now();
    let closed = policy(&app, &pipeline[0], |p| {
        p.window_days = Vec::new();
        p.window_start = (now + chrono::Duration::hours(2))
            .format("%H:%M")
            .to_string();
        p.window_end = (now + chrono::Duration::hours(3))
            .format("%H:%M")
            .to_string();
        p.window_time_zone = "UTC".into();
    });
    app.release(&project, "1.0.0");
    assert!(app.claim().is_none());
    policy(&app, &closed, |p| {
        p.window_start = (now - chrono::Duration::hours(1))
            .format("%H:%M")
            .to_string();
        p.window_end = (now + chrono::Duration::hours(1))
            .format("%H:%M")
            .to_string();
    });
    assert!(app.claim().is_some());
}

#[tokio::test]
async fn an_environment_with_the_automatic_trigger_deploys_after_success_in_the_previous_one() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    environments::update(
        &mut app.conn(),
        &admin(),
        &pipeline[1],
        &environments::EnvironmentInput {
            name: "QA".into(),
            url: String::new(),
            trigger: "after_previous".into(),
        },
    )
    .unwrap();
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    assert_eq!(
        app.status(release.id, pipeline[2].id),
        None,
        "Staging is manual"
    );
    let comment: String = diesel::sql_query(format!(
        "SELECT comment AS n FROM deployments WHERE environment_id = {}",
        pipeline[1].id
    ))
    .get_result::<Note>(&mut app.conn())
    .unwrap()
    .n;
    assert_eq!(comment, "Automatic after success in Development.");
}

#[tokio::test]
async fn deploy_as_far_as_goes_through_each_approval_and_stops_at_the_target() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let lead = app.create_user("lead", "lead-password-12", false);
    app.grant(lead.id, pipeline[2].id, "approver");
    policy(&app, &pipeline[2], |p| p.required_approvals = "1".into());
    let release = app.release(&project, "2.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let page = format!("/projects/{}/releases/2.0.0", project.slug);
    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "qa"), ("target", "staging")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    app.wait_for(release.id, pipeline[2].id, "awaiting_approval")
        .await;
    let html = app.get_html(&page).await;
    assert!(
        html.contains("heading for Staging"),
        "the release page shows the planned path"
    );
    let waiting = DeploymentId(app.count(&format!(
        "SELECT id AS n FROM deployments WHERE environment_id = {}",
        pipeline[2].id
    )));
    approvals::decide(
        &mut app.conn(),
        &person(&lead),
        waiting,
        &Decision::Approve,
        "go",
    )
    .unwrap();
    app.wait_for(release.id, pipeline[2].id, "succeeded").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.status(release.id, pipeline[3].id),
        None,
        "stops at the target"
    );

    let response = app
        .post_form(
            &format!("{page}/deploy"),
            &page,
            &[("environment", "production"), ("target", "qa")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Choose Production or an environment after it.")
    );
}

#[tokio::test]
async fn two_approvers_approving_at_the_same_instant_are_both_counted_and_it_is_queued_once() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (pipeline, release, people) = setup(&app, "2").await;
    for round in 0..5 {
        let d = request_as(&app, &admin(), release, pipeline[1].id);
        let handles: Vec<_> = people[..2]
            .iter()
            .map(|p| {
                let pool = app.pool.clone();
                let actor = person(p);
                std::thread::spawn(move || {
                    approvals::decide(
                        &mut pool.get().unwrap(),
                        &actor,
                        d.id,
                        &Decision::Approve,
                        "",
                    )
                    .unwrap()
                })
            })
            .collect();
        let results: Vec<Decided> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(
            results.contains(&Decided::Queued) && results.contains(&Decided::Counted(1, 2)),
            "round {round}: {results:?}"
        );
        assert_eq!(app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.queued' AND object_id = '{}'", d.id)), 1);
        deployments::cancel(&mut app.conn(), &admin(), d.id).unwrap();
    }
}

#[tokio::test]
async fn approvers_see_their_inbox_and_decide_from_it_and_others_may_not() {
    let app = spawn_app().await;
    let (pipeline, release, _) = setup(&app, "1").await;
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    let ann = new_client();
    app.login_with(&ann, "ann", "ann-password-123").await;
    let home = app.get_with(&ann, "/").await.text().await.unwrap();
    assert!(
        home.contains("aria-label=\"1 waiting\""),
        "the header counts it"
    );
    let inbox = app.get_with(&ann, "/approvals").await.text().await.unwrap();
    assert!(
        inbox.contains(&format!("id=\"approval-{}\"", d.id)) && inbox.contains("0 of 1 approvals"),
        "{inbox}"
    );

    // Someone without the approver role is refused and nothing changes.
    let dev = app.create_user("dev", "dev-password-123", false);
    app.grant(dev.id, pipeline[1].id, "deployer");
    let other = new_client();
    app.login_with(&other, "dev", "dev-password-123").await;
    let response = app
        .post_form_with(
            &other,
            &format!("/deployments/{}/approve", d.id),
            "/approvals",
            &[("comment", "sneaky")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.count("SELECT count(*) AS n FROM approvals"), 0);

    let response = app
        .post_form_with(
            &ann,
            &format!("/deployments/{}/approve", d.id),
            "/approvals",
            &[("comment", "looks good"), ("next", "/approvals")],
        )
        .await;
    assert_eq!(location(&response), "/approvals");
    app.wait_for(release, pipeline[1].id, "succeeded").await;
    let page = app
        .get_with(&ann, &format!("/deployments/{}", d.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("looks good") && page.contains("approved"));
}

#[tokio::test]
async fn the_release_page_lists_why_a_deployment_is_not_yet_running() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (pipeline, release, people) = setup(&app, "2").await;
    let now = Utc::now();
    policy(&app, &pipeline[1], |p| {
        p.window_start = (now + chrono::Duration::hours(2))
            .format("%H:%M")
            .to_string();
        p.window_end = (now + chrono::Duration::hours(3))
            .format("%H:%M")
            .to_string();
    });
    let d = request_as(&app, &admin(), release, pipeline[1].id);
    approvals::decide(
        &mut app.conn(),
        &person(&people[0]),
        d.id,
        &Decision::Approve,
        "",
    )
    .unwrap();
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(html.contains("Succeeded in Development"), "{html}");
    assert!(
        html.contains("Approvals 1 of 2: approved by ann; may still approve: ben, cat"),
        "{html}"
    );
    let opens = (now + chrono::Duration::hours(2))
        .format("%H:%M")
        .to_string();
    assert!(html.contains("Window closed now; it opens "), "{html}");
    assert!(
        html.contains(&format!("{opens} UTC (every day")),
        "the exact time it opens"
    );
    assert!(html.contains("You may deploy to QA"));
    // Staging is not next yet: its checklist explains only what it waits for.
    assert!(html.contains("Not yet succeeded in QA"));
}

#[tokio::test]
async fn a_scheduled_trigger_deploys_the_newest_release_that_succeeded_before_at_its_time() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    // QA: weekdays at 02:00 in Berlin.
    let qa = policy(&app, &pipeline[1], |p| {
        p.trigger = "scheduled".into();
        p.schedule_days = ["1", "2", "3", "4", "5"].map(String::from).to_vec();
        p.schedule_time = "02:00".into();
        p.schedule_time_zone = "Europe/Berlin".into();
    });
    assert_eq!(
        qa.schedule_text().unwrap(),
        "Mon, Tue, Wed, Thu, Fri at 02:00 Europe/Berlin"
    );
    let mut succeeded = Vec::new();
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        let r = app.release(&project, v);
        let d = app.claim().unwrap();
        let ok = v != "1.2.0";
        app.finish(
            d.id,
            &if ok {
                deployments::Outcome::Succeeded
            } else {
                deployments::Outcome::Failed("x".into())
            },
        );
        succeeded.push((r, ok));
    }
    // Pretend the schedule was last acted on on Friday evening.
    diesel::sql_query(format!(
        "UPDATE environments SET schedule_checked_at = '2026-11-20 20:00:00+00' WHERE id = {}",
        qa.id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
    };
    // Sunday night: no weekday slot since Friday's.
    assert_eq!(
        stagecoach::domain::schedules::run_due(&mut app.conn(), at("2026-11-22T23:00:00Z"))
            .unwrap(),
        0
    );
    // Monday 02:30 Berlin (01:30 UTC): the slot came; 1.1.0 is the newest success.
    assert_eq!(
        stagecoach::domain::schedules::run_due(&mut app.conn(), at("2026-11-23T01:30:00Z"))
            .unwrap(),
        1
    );
    assert_eq!(
        app.status(succeeded[1].0.id, qa.id).as_deref(),
        Some("queued")
    );
    assert_eq!(app.status(succeeded[0].0.id, qa.id), None);
    // The same slot does not fire twice.
    assert_eq!(
        stagecoach::domain::schedules::run_due(&mut app.conn(), at("2026-11-23T05:00:00Z"))
            .unwrap(),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'schedule.fired'"),
        1
    );
}

#[tokio::test]
async fn the_policy_form_checks_triggers_schedules_windows_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let qa = format!("/admin/projects/{}/environments/qa", project.slug);
    let settings = format!("{qa}/settings");
    let base = [
        ("max_running", "1"),
        ("queue_policy", "all"),
        ("approval_timeout_hours", "168"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        base.iter().chain(extra.iter()).copied().collect()
    };
    let response = app
        .post_form(
            &format!("{qa}/policy"),
            &settings,
            &with(&[
                ("required_approvals", "11"),
                ("trigger", "scheduled"),
                ("window_start", "09:00"),
                ("window_time_zone", "Mars/Olympus"),
            ]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    for message in [
        "Use a whole number from 0 to 10.",
        "Give the time the schedule runs.",
        "Give both the opening and the closing time, or neither.",
        "Use a time zone name like Europe/Berlin or UTC.",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(html.contains("value=\"Mars/Olympus\"") && html.contains("value=\"11\""));
    let response = app
        .post_form(
            &format!("{qa}/policy"),
            &settings,
            &with(&[
                ("required_approvals", "2"),
                ("trigger", "scheduled"),
                ("schedule_time", "02:00"),
                ("schedule_days", "1"),
                ("schedule_days", "3"),
                ("schedule_time_zone", "Europe/Berlin"),
            ]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app
        .get_html(&format!("/projects/{}/environments/qa", project.slug))
        .await;
    assert!(html.contains("trigger: on a schedule"));
    let first = format!("/admin/projects/{}/environments/development", project.slug);
    let response = app
        .post_form(
            &format!("{first}/policy"),
            &format!("{first}/settings"),
            &with(&[("required_approvals", "0"), ("trigger", "after_previous")]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
}

/// The header counts what waits only up to a cap, so a long queue does not
/// make every page dearer: at 100 it says "99+".
#[tokio::test]
async fn the_header_count_stops_at_99_plus() {
    let app = spawn_app().await;
    let (pipeline, release, _) = setup(&app, "1").await;
    request_as(&app, &admin(), release, pipeline[1].id);
    let ann = new_client();
    app.login_with(&ann, "ann", "ann-password-123").await;
    let count = |html: &str| {
        html.split("<span class=\"count\" aria-label=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    let home = app.get_with(&ann, "/").await.text().await.unwrap();
    assert_eq!(count(&home).as_deref(), Some("1 waiting"));
    // 98 more copies of the waiting deployment: 99 is still a number.
    // (Copies of one deployment, so this test's own database drops the
    // rule of one active deployment per release and environment.)
    diesel::sql_query("DROP INDEX deployments_one_active_per_environment_release")
        .execute(&mut app.conn())
        .unwrap();
    let copies = |n: i64, from: i64| {
        diesel::sql_query(format!(
            "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, \
                                      status, comment, requested_by, required_approvals, cause) \
             SELECT environment_release_id, release_id, environment_id, {from} + g, status, comment, \
                    requested_by, required_approvals, cause \
               FROM deployments, generate_series(1, {n}) g \
              WHERE status = 'awaiting_approval' AND attempt = 1"
        ))
        .execute(&mut app.conn())
        .unwrap();
    };
    copies(98, 1);
    let home = app.get_with(&ann, "/").await.text().await.unwrap();
    assert_eq!(count(&home).as_deref(), Some("99 waiting"));
    copies(500, 1000);
    let home = app.get_with(&ann, "/").await.text().await.unwrap();
    assert_eq!(count(&home).as_deref(), Some("99+ waiting"));
    assert!(home.contains(">99+</span>"));
}
