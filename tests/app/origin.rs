//! Rule 3 on every path: a deployment exists in an environment only if the
//! person it names holds `deployer` there or the environment's own trigger
//! started it; nobody's own approval counts where self-approval is off;
//! nothing starts during a freeze or outside a window without its own
//! override; logs are for those with a role on the environment.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use stagecoach::db::schema::{deployments, grants};
use stagecoach::domain::approvals::{self, Decision};
use stagecoach::domain::audit::Actor;
use stagecoach::domain::deployments::{self as deploys, Outcome};
use stagecoach::domain::freezes::{self, FreezeInput};
use stagecoach::domain::ids::{DeploymentId, EnvironmentId, ReleaseId, UserId};
use stagecoach::domain::projects::Project;
use stagecoach::domain::users::User;

use crate::helpers::fixtures::{ADMIN_ID, admin, person, policy};
use crate::helpers::{TestApp, new_client, spawn_app, spawn_app_with};

/// A signed-in user with their own cookie jar.
struct Someone {
    user: User,
    client: reqwest::Client,
}

async fn sign_in(app: &TestApp, name: &str, is_admin: bool) -> Someone {
    let password = format!("{name}-password-123");
    let user = app.create_user(name, &password, is_admin);
    let client = new_client();
    let response = app.login_with(&client, name, &password).await;
    assert_eq!(response.status().as_u16(), 303, "{name} signs in");
    Someone { user, client }
}

async fn deploy(
    app: &TestApp,
    who: &Someone,
    project: &Project,
    version: &str,
    fields: &[(&str, &str)],
) -> u16 {
    let page = format!("/projects/{}/releases/{version}", project.slug);
    // The token comes from the dashboard: a user who may not see the
    // project gets no release page to take it from.
    app.post_form_with(&who.client, &format!("{page}/deploy"), "/", fields)
        .await
        .status()
        .as_u16()
}

/// Waits until nothing waits, queues or runs in the project (20 s at most).
async fn settle(app: &TestApp, project: &Project) {
    let started = std::time::Instant::now();
    loop {
        let active = app.count(&format!(
            "SELECT count(*) AS n FROM deployments d JOIN environments e ON e.id = d.environment_id
              WHERE e.project_id = {} AND d.status IN ('queued', 'running')",
            project.id
        ));
        if active == 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    environment_id: EnvironmentId,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    requested_by: Option<UserId>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    cause: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    trigger: String,
}

/// The rule, checked over every deployment against the grants as this test
/// made them (not against the database's own function): a person's
/// deployment only where they hold `deployer`; otherwise the environment's
/// trigger is the cause.
fn assert_rule_three(
    app: &TestApp,
    deployers: &HashMap<UserId, HashSet<EnvironmentId>>,
    admins: &[UserId],
) {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT d.id, d.environment_id, d.requested_by, d.cause, e.trigger
           FROM deployments d JOIN environments e ON e.id = d.environment_id ORDER BY d.id",
    )
    .load(&mut app.conn())
    .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        match (row.cause.as_str(), row.requested_by) {
            (_, Some(user)) => assert!(
                admins.contains(&user)
                    || deployers
                        .get(&user)
                        .is_some_and(|envs| envs.contains(&row.environment_id)),
                "deployment {} into {} names user {user}, who may not deploy there ({row:?})",
                row.id,
                row.environment_id
            ),
            ("after_previous", None) => assert_eq!(row.trigger, "after_previous", "{row:?}"),
            ("schedule", None) => assert_eq!(row.trigger, "scheduled", "{row:?}"),
            ("on_release", None) => assert_eq!(row.trigger, "on_release", "{row:?}"),
            _ => panic!("deployment with no reason to exist: {row:?}"),
        }
    }
}

fn reached(app: &TestApp, release_id: ReleaseId) -> Vec<EnvironmentId> {
    deployments::table
        .filter(deployments::release_id.eq(release_id))
        .select(deployments::environment_id)
        .distinct()
        .order(deployments::environment_id.asc())
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn every_path_into_an_environment_needs_the_deployer_role_there_or_its_own_trigger() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
    let [dev, qa, staging, production] = [ids[0], ids[1], ids[2], ids[3]];

    // The kinds of user, and where the test granted `deployer`.
    let nobody = sign_in(&app, "nobody", false).await;
    let viewer = sign_in(&app, "viewer", false).await;
    let dev_only = sign_in(&app, "devonly", false).await;
    let everywhere = sign_in(&app, "everywhere", false).await;
    let approver = sign_in(&app, "approver", false).await;
    let root = sign_in(&app, "root", true).await;
    let mut deployers: HashMap<UserId, HashSet<EnvironmentId>> = HashMap::new();
    for env in &ids {
        app.grant(viewer.user.id, *env, "viewer");
        app.grant(everywhere.user.id, *env, "deployer");
    }
    app.grant(dev_only.user.id, dev, "deployer");
    app.grant(approver.user.id, production, "approver");
    deployers.insert(everywhere.user.id, ids.iter().copied().collect());
    deployers.insert(dev_only.user.id, HashSet::from([dev]));
    let admins = [ADMIN_ID, root.user.id];

    // (user, may see the project, deployer on these stage indexes)
    let kinds: [(&Someone, bool, &[usize]); 6] = [
        (&nobody, false, &[]),
        (&viewer, true, &[]),
        (&dev_only, true, &[0]),
        (&everywhere, true, &[0, 1, 2, 3]),
        (&approver, true, &[]),
        (&root, true, &[0, 1, 2, 3]),
    ];
    for (n, (who, sees, may)) in kinds.iter().enumerate() {
        let may = |i: usize| may.contains(&i);
        let refusal = if *sees { 403 } else { 404 };
        let old = app.release(&project, &format!("{n}.0.0"));
        let new = app.release(&project, &format!("{n}.1.0"));
        app.wait_for(new.id, dev, "succeeded").await;
        app.wait_for(old.id, dev, "succeeded").await;

        // Promote the older release to QA.
        let promote = deploy(&app, who, &project, &old.version, &[("environment", "qa")]).await;
        assert_eq!(
            promote,
            if may(1) { 303 } else { refusal },
            "promote, kind {n}"
        );
        settle(&app, &project).await;

        // "As far as" Production from a redeploy in Development: every
        // environment on the way needs the role, checked when asked.
        let far = deploy(
            &app,
            who,
            &project,
            &new.version,
            &[("environment", "development"), ("target", "production")],
        )
        .await;
        let whole_way = (0..4).all(may);
        assert_eq!(
            far,
            if whole_way { 303 } else { refusal },
            "as far as, kind {n}"
        );
        settle(&app, &project).await;
        let expected: Vec<EnvironmentId> = if whole_way { ids.clone() } else { vec![dev] };
        assert_eq!(reached(&app, new.id), expected, "as far as, kind {n}");

        // Redeploy into Development.
        let again = deploy(
            &app,
            who,
            &project,
            &old.version,
            &[("environment", "development")],
        )
        .await;
        assert_eq!(
            again,
            if may(0) { 303 } else { refusal },
            "redeploy, kind {n}"
        );
        settle(&app, &project).await;

        // Roll QA back to the older release, now that the newer is live there.
        let rollback = deploy(&app, who, &project, &old.version, &[("environment", "qa")]).await;
        assert_eq!(
            rollback,
            if may(1) { 303 } else { refusal },
            "rollback, kind {n}"
        );
        settle(&app, &project).await;
        if may(1) {
            let kinds: Vec<bool> = deployments::table
                .filter(deployments::release_id.eq(old.id))
                .filter(deployments::environment_id.eq(qa))
                .order(deployments::id.asc())
                .select(deployments::is_rollback)
                .load(&mut app.conn())
                .unwrap();
            assert_eq!(
                kinds,
                vec![false, true],
                "a promotion, then a rollback (kind {n})"
            );
        } else {
            assert_eq!(
                reached(&app, old.id),
                vec![dev],
                "kind {n} put nothing in QA"
            );
        }
    }

    // The environments' own triggers: QA after success in Development,
    // Staging on a schedule; Development on release creation. A
    // Development-only deployer's release travels by policy, not by them.
    policy(&app, &pipeline[1], |p| p.trigger = "after_previous".into());
    policy(&app, &pipeline[2], |p| {
        p.trigger = "scheduled".into();
        p.schedule_time = "00:00".into();
    });
    let create = app
        .post_form_with(
            &dev_only.client,
            "/projects/shop/releases/new",
            "/projects/shop/releases/new",
            &[("version", "9.0.0"), ("title", "By policy")],
        )
        .await;
    assert_eq!(
        create.status().as_u16(),
        303,
        "a Development deployer creates releases"
    );
    let created = stagecoach::domain::releases::find(&mut app.conn(), project.id, "9.0.0")
        .unwrap()
        .unwrap();
    app.wait_for(created.id, qa, "succeeded").await;
    // The next slot (tomorrow 00:00 UTC): a schedule never fires for slots
    // before it was set.
    let ran = stagecoach::domain::schedules::run_due(
        &mut app.conn(),
        Utc::now() + chrono::Duration::days(1),
    )
    .unwrap();
    assert!(
        ran >= 1,
        "the schedule deployed the newest release that passed QA"
    );
    settle(&app, &project).await;
    assert_eq!(
        app.status(created.id, staging).as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        app.status(created.id, production),
        None,
        "Production is manual"
    );
    let causes: Vec<(EnvironmentId, String, Option<UserId>)> = deployments::table
        .filter(deployments::release_id.eq(created.id))
        .order(deployments::id.asc())
        .select((
            deployments::environment_id,
            deployments::cause,
            deployments::requested_by,
        ))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        causes,
        vec![
            (dev, "on_release".to_owned(), Some(dev_only.user.id)),
            (qa, "after_previous".to_owned(), None),
            (staging, "schedule".to_owned(), None),
        ]
    );

    assert_rule_three(&app, &deployers, &admins);

    // And the database itself refuses whoever slips past the domain.
    let err = diesel::sql_query(format!(
        "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status, requested_by, cause)
         SELECT er.id, er.release_id, {production}, 9, 'queued', {}, 'person'
           FROM environment_releases er WHERE er.release_id = {} LIMIT 1",
        viewer.user.id, created.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(err.to_string().contains("holds no deployer role"), "{err}");
    let err = diesel::sql_query(format!(
        "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status, cause)
         SELECT er.id, er.release_id, {production}, 9, 'queued', 'after_previous'
           FROM environment_releases er WHERE er.release_id = {} LIMIT 1",
        created.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(
        err.to_string().contains("does not start deployments"),
        "{err}"
    );
    let err = diesel::sql_query(format!(
        "INSERT INTO deployments (environment_release_id, release_id, environment_id, attempt, status)
         SELECT er.id, er.release_id, {production}, 9, 'queued'
           FROM environment_releases er WHERE er.release_id = {} LIMIT 1",
        created.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(
        err.to_string().contains("deployments_person_is_named"),
        "{err}"
    );
}

#[tokio::test]
async fn a_chain_carries_its_originator_who_never_approves_it_and_stops_when_a_right_goes() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let production = policy(&app, &pipeline[3], |p| p.required_approvals = "1".into());
    // Deployer on Development only, approver on Production (finding 1 and 2).
    let dual = sign_in(&app, "dual", false).await;
    app.grant(dual.user.id, pipeline[0].id, "deployer");
    app.grant(dual.user.id, production.id, "approver");
    let other = sign_in(&app, "other", false).await;
    app.grant(other.user.id, production.id, "approver");
    let release = app.release(&project, "7.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;

    let far = [("environment", "development"), ("target", "production")];
    assert_eq!(deploy(&app, &dual, &project, "7.0.0", &far).await, 403);
    settle(&app, &project).await;
    assert_eq!(
        app.status(release.id, pipeline[1].id),
        None,
        "nothing reached QA"
    );
    assert!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied'") >= 1
    );

    // With the role all the way, the chain runs in dual's name.
    for env in &pipeline[1..] {
        app.grant(dual.user.id, env.id, "deployer");
    }
    assert_eq!(deploy(&app, &dual, &project, "7.0.0", &far).await, 303);
    app.wait_for(release.id, production.id, "awaiting_approval")
        .await;
    let chain: Vec<(Option<UserId>, String)> = deployments::table
        .filter(deployments::release_id.eq(release.id))
        .filter(deployments::environment_id.ne(pipeline[0].id))
        .select((deployments::requested_by, deployments::cause))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(chain.len(), 3);
    assert!(
        chain
            .iter()
            .all(|c| *c == (Some(dual.user.id), "person".to_owned())),
        "{chain:?}"
    );
    let credited = app.count(&format!(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.requested' AND actor_id = {}",
        dual.user.id
    ));
    assert_eq!(credited, 4, "the audit credits dual with every step");

    // dual may not approve it: not by the page, not by the domain, not in SQL.
    let waiting = DeploymentId(app.count(&format!(
        "SELECT id AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
        release.id, production.id
    )));
    let page = format!("/deployments/{waiting}");
    let answer = app
        .post_form_with(
            &dual.client,
            &format!("{page}/approve"),
            &page,
            &[("comment", "mine")],
        )
        .await;
    assert!(answer.status().is_redirection() || answer.status().is_client_error());
    assert!(
        approvals::decide(
            &mut app.conn(),
            &person(&dual.user),
            waiting,
            &Decision::Approve,
            ""
        )
        .is_err()
    );
    let err = diesel::sql_query(format!(
        "INSERT INTO approvals (deployment_id, approver_id, decision) VALUES ({waiting}, {}, 'approve')",
        dual.user.id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(err.to_string().contains("may not approve"), "{err}");
    // Nor may anyone without the approver role, even in SQL.
    let err = diesel::sql_query(format!(
        "INSERT INTO approvals (deployment_id, approver_id, decision) VALUES ({waiting}, {}, 'approve')",
        app.create_user("stranger", "stranger-password-1", false).id
    ))
    .execute(&mut app.conn())
    .unwrap_err();
    assert!(err.to_string().contains("holds no approver role"), "{err}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM approvals WHERE deployment_id = {waiting}"
        )),
        0
    );
    // The header counts it for the other approver, not for dual.
    assert_eq!(
        approvals::pending_count(&mut app.conn(), &person(&dual.user)).unwrap(),
        0
    );
    assert_eq!(
        approvals::pending_count(&mut app.conn(), &person(&other.user)).unwrap(),
        1
    );
    assert_eq!(
        app.status(release.id, production.id).as_deref(),
        Some("awaiting_approval")
    );
    // A comment that would reorder the page around it is refused.
    assert!(
        approvals::decide(
            &mut app.conn(),
            &person(&other.user),
            waiting,
            &Decision::Approve,
            "ok\u{202e}",
        )
        .is_err()
    );
    approvals::decide(
        &mut app.conn(),
        &person(&other.user),
        waiting,
        &Decision::Approve,
        "ok",
    )
    .unwrap();
    app.wait_for(release.id, production.id, "succeeded").await;

    // A right removed mid-chain stops the chain where it is, with a note.
    let staging = policy(&app, &pipeline[2], |p| p.required_approvals = "1".into());
    app.grant(other.user.id, staging.id, "approver");
    let next = app.release(&project, "7.1.0");
    app.wait_for(next.id, pipeline[0].id, "succeeded").await;
    assert_eq!(deploy(&app, &dual, &project, "7.1.0", &far).await, 303);
    app.wait_for(next.id, staging.id, "awaiting_approval").await;
    diesel::delete(
        grants::table
            .filter(grants::user_id.eq(dual.user.id))
            .filter(grants::environment_id.eq(production.id))
            .filter(grants::role.eq("deployer")),
    )
    .execute(&mut app.conn())
    .unwrap();
    let at_staging = DeploymentId(app.count(&format!(
        "SELECT id AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
        next.id, staging.id
    )));
    approvals::decide(
        &mut app.conn(),
        &person(&other.user),
        at_staging,
        &Decision::Approve,
        "",
    )
    .unwrap();
    app.wait_for(next.id, staging.id, "succeeded").await;
    settle(&app, &project).await;
    assert_eq!(
        app.status(next.id, production.id),
        None,
        "the chain stopped at Staging"
    );
    let note: String = deployments::table
        .find(at_staging)
        .select(deployments::note)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        note,
        "Stopped before Production: dual no longer holds the deployer role on Production."
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.chain_stopped'"
        ),
        1
    );
}

#[tokio::test]
async fn the_readiness_checklist_tells_approvers_apart_by_id_not_by_name() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let qa = policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    let release = app.release(&project, "1.0.0");
    app.succeed_next();
    // Two people called "Sam Lee": one asks, the other may approve.
    let mut sams = Vec::new();
    for username in ["sam1", "sam2"] {
        let user = stagecoach::domain::users::create(
            &mut app.conn(),
            &Actor::system(),
            username,
            "Sam Lee",
            "sam-password-12345",
            false,
        )
        .unwrap();
        app.grant(user.id, qa.id, "approver");
        sams.push(user);
    }
    app.grant(sams[0].id, qa.id, "deployer");
    deploys::request(
        &mut app.conn(),
        &person(&sams[0]),
        release.id,
        &deploys::DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    )
    .unwrap();
    let html = app.get_html("/projects/shop/releases/1.0.0").await;
    assert!(html.contains("may still approve: Sam Lee"), "{html}");
}

#[tokio::test]
async fn logs_and_variable_values_are_for_those_with_a_role_on_the_environment() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    deploys::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &deploys::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    let in_qa: i64 = app.count(&format!(
        "SELECT id AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
        release.id, pipeline[1].id
    ));
    diesel::sql_query(format!(
        "INSERT INTO deployment_logs (deployment_id, stream, line, end_offset) VALUES ({in_qa}, 'stdout', 'internal answer 42', 19)"
    ))
    .execute(&mut app.conn())
    .unwrap();

    let dev_viewer = sign_in(&app, "devviewer", false).await;
    app.grant(dev_viewer.user.id, pipeline[0].id, "viewer");
    let qa_viewer = sign_in(&app, "qaviewer", false).await;
    app.grant(qa_viewer.user.id, pipeline[1].id, "viewer");

    let page = format!("/deployments/{in_qa}");
    let hidden = app.get_with(&dev_viewer.client, &page).await;
    assert_eq!(hidden.status().as_u16(), 200, "the project is visible");
    let hidden = hidden.text().await.unwrap();
    assert!(hidden.contains("id=\"log-hidden\"") && !hidden.contains("internal answer 42"));
    for path in [
        format!("{page}/log.txt"),
        format!("{page}/log.json?after=0"),
    ] {
        let answer = app.get_with(&dev_viewer.client, &path).await;
        assert_eq!(answer.status().as_u16(), 403, "{path}");
        assert!(!answer.text().await.unwrap().contains("internal answer 42"));
    }
    let shown = app
        .get_with(&qa_viewer.client, &page)
        .await
        .text()
        .await
        .unwrap();
    assert!(shown.contains("internal answer 42"));
    let text = app
        .get_with(&qa_viewer.client, &format!("{page}/log.txt"))
        .await;
    assert!(text.text().await.unwrap().contains("internal answer 42"));
}

/// Two workers, the "latest" queue policy, a freeze, and two queued
/// deployments: an older one with a confirmed break-glass override and a
/// newer plain one. Only the overridden one may run during the freeze.
#[tokio::test]
async fn during_a_freeze_the_latest_policy_never_runs_a_deployment_without_its_own_override() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    app.queue_policy(dev, "1", "latest");
    let asker = app.create_user("asker", "asker-password-1", false);
    let confirmer = app.create_user("confirmer", "confirmer-password-1", false);
    for u in [&asker, &confirmer] {
        app.grant(u.id, dev.id, "approver");
    }
    let now = Utc::now();
    freezes::add(
        &mut app.conn(),
        &admin(),
        project.id,
        &pipeline,
        &FreezeInput {
            environment: "development".into(),
            reason: "Sale weekend".into(),
            kind: "once".into(),
            starts_at: (now - chrono::Duration::hours(1))
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            ends_at: (now + chrono::Duration::hours(2))
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            time_zone: "UTC".into(),
            ..Default::default()
        },
    )
    .unwrap();
    for round in 0..12 {
        let overridden = app.release(&project, &format!("{round}.0.0"));
        let plain = app.release(&project, &format!("{round}.1.0"));
        let first = |release: ReleaseId| {
            DeploymentId(app.count(&format!(
                "SELECT id AS n FROM deployments WHERE release_id = {release}"
            )))
        };
        let (o, p) = (first(overridden.id), first(plain.id));
        freezes::request_override(&mut app.conn(), &person(&asker), o, "Hotfix").unwrap();
        freezes::confirm_override(&mut app.conn(), &person(&confirmer), o).unwrap();

        let claims: Vec<Option<DeploymentId>> = std::thread::scope(|scope| {
            let workers: Vec<_> = ["w1", "w2"]
                .into_iter()
                .map(|worker| {
                    let pool = app.pool.clone();
                    scope.spawn(move || {
                        let mut conn = pool.get().unwrap();
                        deploys::claim_next(&mut conn, worker, Duration::from_secs(30))
                            .unwrap()
                            .map(|d| d.id)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let claimed: Vec<DeploymentId> = claims.into_iter().flatten().collect();
        assert_eq!(
            claimed,
            vec![o],
            "round {round}: only the overridden one runs"
        );
        assert_eq!(
            app.status(plain.id, dev.id).as_deref(),
            Some("queued"),
            "round {round}"
        );
        let worker: Option<String> = deployments::table
            .find(o)
            .select(deployments::worker_id)
            .first(&mut app.conn())
            .unwrap();
        assert!(
            deploys::finish(&mut app.conn(), &worker.unwrap(), o, &Outcome::Succeeded).unwrap()
        );
        // The database refuses it too, whoever asks.
        let err = diesel::sql_query(format!(
            "UPDATE deployments SET status = 'running', started_at = now() WHERE id = {p}"
        ))
        .execute(&mut app.conn())
        .unwrap_err();
        assert!(err.to_string().contains("may not start now"), "{err}");
        deploys::cancel(&mut app.conn(), &admin(), p).unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM deployments WHERE status = 'running' OR (status = 'succeeded' AND override_confirmed_by IS NULL)"),
        0
    );
}
