//! The permission matrix, generated from the route table: every route the
//! app serves (`routes::table::all`), asked by every kind of user, answers
//! as its gate and its needs say; a refused request changes nothing, and a
//! refused admin request is audited. A new route is in this test the
//! moment it is in the table, and `expected` is a `match` the compiler
//! holds to every pair of gate and kind.

use stagecoach::domain::freezes::{self, FreezeInput};
use stagecoach::domain::ids::UserId;
use stagecoach::domain::secrets::SecretBox;
use stagecoach::domain::steps::{self, StepInput};
use stagecoach::domain::variables::{self, VariableInput};
use stagecoach::domain::{teams, users};
use stagecoach::routes::gate::{Gate, Needs};
use stagecoach::routes::table::{self, Route};

use crate::helpers::fixtures::admin;
use crate::helpers::{ADMIN_PASSWORD, TEST_SECRET_KEY, TestApp, csrf_token_in, new_client};

/// The kinds of user every route is asked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never signed in.
    Anonymous,
    /// Signed in, then disabled by an administrator.
    Disabled,
    /// Signed in, with no grant in the project.
    Outsider,
    /// A viewer in every environment of the project.
    Viewer,
    Admin,
}
use Kind::*;

const KINDS: [Kind; 5] = [Anonymous, Disabled, Outsider, Viewer, Admin];

/// What an answer is, reduced to what the matrix compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 200, a redirect elsewhere than sign-in, or a form's own refusal of
    /// what it was sent (400, 409, 422): the request reached its handler.
    Passed,
    /// 303 to the sign-in page, or 401 from a JSON endpoint.
    Login,
    Forbidden,
    NotFound,
}

fn expected(gate: Gate, kind: Kind) -> Answer {
    match (gate, kind) {
        (Gate::Public, _) => Answer::Passed,
        (_, Anonymous | Disabled) => Answer::Login,
        (Gate::SignedIn, Outsider | Viewer | Admin) => Answer::Passed,
        (Gate::Project(_), Outsider) => Answer::NotFound,
        (Gate::Project(Needs::View), Viewer) => Answer::Passed,
        (Gate::Project(Needs::Act), Viewer) => Answer::Forbidden,
        (Gate::Admin(_), Outsider | Viewer) => Answer::Forbidden,
        (Gate::Project(_) | Gate::Admin(_), Admin) => Answer::Passed,
        // A session never authorises an API call, an admin's included: the
        // API answers 401 to anything but a token (tests/app/api.rs).
        (Gate::Token, Outsider | Viewer | Admin) => Answer::Login,
    }
}

fn answer(status: u16, location: &str) -> Result<Answer, String> {
    Ok(match status {
        200 | 400 | 409 | 422 => Answer::Passed,
        // The page asks to sign in; a JSON endpoint says 401.
        303 if location == "/login" || location.starts_with("/login?next=") => Answer::Login,
        401 => Answer::Login,
        303 => Answer::Passed,
        403 => Answer::Forbidden,
        404 => Answer::NotFound,
        other => return Err(format!("status {other}")),
    })
}

/// The objects a route's path names, made fresh for each route that may
/// change them, so one route's success cannot change another's answer.
struct World {
    project: String,
    version: String,
    environment: String,
    id: i64,
    step: i64,
    check: i64,
    variable: i64,
    freeze: i64,
    grant: i64,
    user: UserId,
    team: i64,
    token: i64,
    webhook: i64,
    delivery: i64,
}

impl World {
    fn make(app: &TestApp, n: usize, viewer: UserId) -> World {
        let (project, pipeline) = app.project(&format!("World {n}"));
        for environment in &pipeline {
            app.grant(viewer, environment.id, "viewer");
        }
        let qa = &pipeline[1];
        // A subscription before the release, so it has a delivery.
        let subscription = stagecoach::domain::webhooks::create(
            &mut app.conn(),
            &admin(),
            &stagecoach::domain::secrets::SecretBox::from_secret_key("matrix"),
            project.id,
            &stagecoach::domain::webhooks::SubscriptionInput {
                url: "https://hooks.example.com/x".into(),
                events: vec!["release.created".into()],
                format: String::new(),
            },
        )
        .expect("a subscription");
        let release = app.release(&project, "1.0.0");
        let deployed = format!("FROM deployments WHERE release_id = {}", release.id);
        if app.count(&format!("SELECT count(*) AS n {deployed}")) == 0 {
            // The first environment does not deploy on creation: ask.
            stagecoach::domain::deployments::request(
                &mut app.conn(),
                &admin(),
                release.id,
                &stagecoach::domain::deployments::DeployInput {
                    environment_id: pipeline[0].id,
                    ..Default::default()
                },
            )
            .expect("a deployment");
        }
        let id = app.count(&format!("SELECT max(id) AS n {deployed}"));
        let step = steps::add(
            &mut app.conn(),
            &admin(),
            qa,
            &StepInput {
                kind: "script".into(),
                name: "Check".into(),
                script: "true".into(),
                timeout_seconds: "60".into(),
                ..Default::default()
            },
        )
        .expect("a step")
        .id;
        let check = stagecoach::domain::checks::add(
            &mut app.conn(),
            &admin(),
            qa,
            &stagecoach::domain::checks::CheckInput {
                name: "Health".into(),
                url: "https://qa.example/health".into(),
                ..stagecoach::domain::checks::CheckInput::blank()
            },
        )
        .expect("a check")
        .id;
        let variable = variables::set(
            &mut app.conn(),
            &admin(),
            &SecretBox::from_secret_key(TEST_SECRET_KEY),
            qa,
            &VariableInput {
                name: "GREETING".into(),
                value: "hello".into(),
                secret: false,
            },
        )
        .expect("a variable")
        .id;
        let freeze = freezes::add(
            &mut app.conn(),
            &admin(),
            project.id,
            &pipeline,
            &FreezeInput {
                reason: "Quiet week".into(),
                kind: "once".into(),
                starts_at: "2099-01-01T00:00".into(),
                ends_at: "2099-01-08T00:00".into(),
                time_zone: "UTC".into(),
                ..Default::default()
            },
        )
        .expect("a freeze")
        .id;
        let grant = app.count(&format!(
            "SELECT id AS n FROM grants WHERE user_id = {viewer} AND environment_id = {}",
            qa.id
        ));
        let target = app.create_user(&format!("target-{n}"), "target-password-1", false);
        let team = teams::create(&mut app.conn(), &admin(), &format!("Team {n}")).expect("a team");
        teams::add_member(&mut app.conn(), &admin(), &team, &target.username).expect("a member");
        World {
            project: project.slug,
            version: release.version,
            environment: qa.slug.clone(),
            id,
            step,
            check,
            variable,
            freeze,
            grant,
            user: target.id,
            team: team.id,
            token: stagecoach::domain::tokens::create(
                &mut app.conn(),
                &admin(),
                target.id,
                &stagecoach::domain::tokens::NewToken {
                    name: "ci".into(),
                    ..Default::default()
                },
            )
            .expect("a token")
            .id,
            webhook: subscription.id,
            delivery: app.count(&format!(
                "SELECT max(id) AS n FROM webhook_deliveries WHERE subscription_id = {}",
                subscription.id
            )),
        }
    }

    fn path(&self, pattern: &str) -> String {
        let mut path = pattern.to_owned();
        for (name, value) in [
            ("project", self.project.clone()),
            ("version", self.version.clone()),
            ("environment", self.environment.clone()),
            ("id", self.id.to_string()),
            ("step", self.step.to_string()),
            ("check", self.check.to_string()),
            ("variable", self.variable.to_string()),
            ("freeze", self.freeze.to_string()),
            ("grant", self.grant.to_string()),
            ("user", self.user.to_string()),
            ("team", self.team.to_string()),
            ("token", self.token.to_string()),
            ("webhook", self.webhook.to_string()),
            ("delivery", self.delivery.to_string()),
            // The first step of the deployment: a viewer is refused before
            // it matters whether it waits.
            ("position", "0".to_owned()),
            ("file", "app.css".to_owned()),
        ] {
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        assert!(
            !path.contains('{'),
            "{pattern}: a path parameter the matrix cannot fill; add it to World"
        );
        path
    }
}

/// What a POST sends: its CSRF token and, where the form names the
/// target whose rights decide (the environment to deploy to), that.
fn form_for(route: &Route, token: &str) -> Vec<(&'static str, String)> {
    let mut form = vec![("csrf_token", token.to_owned())];
    if route.path.ends_with("/deploy") {
        form.push(("environment", "qa".to_owned()));
    }
    form
}

/// Counts of everything a refused request must leave alone.
fn fingerprint(app: &TestApp) -> Vec<i64> {
    [
        "projects",
        "environments",
        "releases",
        "environment_releases",
        "deployments",
        "steps",
        "variables",
        "freezes",
        "grants",
        "teams",
        "team_members",
        "users",
        "users WHERE disabled OR is_admin",
    ]
    .iter()
    .map(|table| app.count(&format!("SELECT count(*) AS n FROM {table}")))
    .collect()
}

fn refusals_audited(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied'")
}

#[tokio::test]
async fn every_route_in_the_table_answers_every_kind_of_user_as_its_gate_says() {
    let app = crate::helpers::spawn_app().await;
    let mut clients = Vec::new();
    let mut viewer_id = UserId(0);
    for kind in KINDS {
        let client = new_client();
        let username = format!("{kind:?}").to_lowercase();
        let password = format!("{username}-password-1");
        match kind {
            Anonymous => {}
            Admin => {
                app.login_with(&client, "admin", ADMIN_PASSWORD).await;
            }
            _ => {
                let user = app.create_user(&username, &password, false);
                if kind == Viewer {
                    viewer_id = user.id;
                }
                app.login_with(&client, &username, &password).await;
                if kind == Disabled {
                    users::set_disabled(&mut app.conn(), &admin(), user.id, true).unwrap();
                }
            }
        }
        clients.push(client);
    }
    // Each client's token for its POSTs: the sign-in form's for whoever
    // is signed out, the session's for the rest (taken before disabling
    // would be better, but a disabled user's POST never reaches the check).
    let mut tokens = Vec::new();
    for (client, kind) in clients.iter().zip(KINDS) {
        let page = if matches!(kind, Anonymous | Disabled) {
            "/login"
        } else {
            "/account/password"
        };
        let html = app.get_with(client, page).await.text().await.unwrap();
        tokens.push(if html.contains("csrf_token") {
            csrf_token_in(&html)
        } else {
            "no-token".to_owned()
        });
    }

    // Signing out ends the session the rest of the matrix needs: last.
    let mut routes: Vec<&Route> = table::all().collect();
    routes.sort_by_key(|route| route.path == "/logout" && route.method == "POST");

    let mut failures = Vec::new();
    // A POST may change or remove what its path names (and an admin's
    // usually does): the routes after it get a fresh world.
    let mut world = World::make(&app, 0, viewer_id);
    let mut changed = false;
    for (n, route) in routes.iter().enumerate() {
        if changed || route.method != "GET" {
            world = World::make(&app, n + 1, viewer_id);
        }
        changed = route.method != "GET";
        let path = world.path(route.path);
        for (k, kind) in KINDS.into_iter().enumerate() {
            let before = fingerprint(&app);
            let audited = refusals_audited(&app);
            let request = match route.method {
                "GET" => clients[k].get(app.url(&path)),
                "POST" => clients[k]
                    .post(app.url(&path))
                    .form(&form_for(route, &tokens[k])),
                "DELETE" => clients[k].delete(app.url(&path)),
                other => panic!("{other} {path}: a method the matrix does not send"),
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let location = crate::helpers::location(&response);
            let want = expected(route.gate, kind);
            let got = match answer(status, &location) {
                Ok(got) => got,
                Err(err) => {
                    failures.push(format!("{} {path} as {kind:?}: {err}", route.method));
                    continue;
                }
            };
            if got != want {
                failures.push(format!(
                    "{} {path} as {kind:?}: expected {want:?}, got {got:?} ({status} {location})",
                    route.method
                ));
            }
            if route.method == "GET" && got == Answer::Passed && !matches!(status, 200 | 303) {
                failures.push(format!("GET {path} as {kind:?}: {status}"));
            }
            if got != Answer::Passed && before != fingerprint(&app) {
                failures.push(format!(
                    "{} {path} as {kind:?} was refused but changed the database",
                    route.method
                ));
            }
            if matches!(route.gate, Gate::Admin(_))
                && matches!(kind, Outsider | Viewer)
                && refusals_audited(&app) != audited + 1
            {
                failures.push(format!(
                    "{} {path} as {kind:?}: the refusal was not audited once",
                    route.method
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ:\n{}",
        failures.len(),
        routes.len() * KINDS.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_has_one_row_per_method_and_path() {
    let mut seen = std::collections::HashSet::new();
    for route in table::all() {
        assert!(
            seen.insert((route.method, route.path)),
            "{} {} is in the table twice",
            route.method,
            route.path
        );
    }
    assert!(seen.len() >= 70, "the table lost routes: {}", seen.len());
}

/// The matrix takes each route's expectations from its row, so the rows
/// themselves are pinned here by where they lead: a console route that
/// lost its admin gate, or a project route its project check, fails.
#[test]
fn each_part_of_the_site_has_the_gate_it_must_have() {
    for route in table::all() {
        let gate = route.gate;
        let must = if route.path == "/api/v1/openapi.json" {
            // The description of the API holds no data: client generators
            // and API tools read it before they hold a token.
            gate == Gate::Public && route.method == "GET"
        } else if route.path.starts_with("/api/") {
            gate == Gate::Token
        } else if route.path.starts_with("/admin") {
            matches!(gate, Gate::Admin(_))
        } else if route.path.starts_with("/projects/") || route.path.starts_with("/deployments/") {
            matches!(gate, Gate::Project(_))
                && (route.method == "GET" || gate == Gate::Project(Needs::Act))
        } else if route.path.starts_with("/account") || route.path == "/approvals" {
            gate == Gate::SignedIn
        } else {
            true
        };
        assert!(
            must,
            "{} {} has the gate {gate:?}",
            route.method, route.path
        );
    }
}

/// Every API route that changes something, sent bodies that are broken in
/// each way a client can break them, with a token that may do anything:
/// each answers a 4xx JSON error naming it, none answers 5xx, and nothing
/// changes (the audit trail, which records every change, stays as it was).
#[tokio::test]
async fn every_api_write_answers_broken_bodies_with_a_4xx_json_error_and_changes_nothing() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let viewer = app.create_user("viewer", "viewer-password-1", false);
    let world = World::make(&app, 0, viewer.id);
    let secret = crate::api::token(&app, crate::helpers::fixtures::ADMIN_ID, "", &[]);
    let client = reqwest::Client::new();
    // Its first use is audited (a new address): before counting.
    client
        .get(app.url("/api/v1/projects"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let nul = "{\"version\": \"1.0.1\u{0}\", \"title\": \"x\", \"comment\": \"\u{0}\", \"reason\": \"\u{0}\", \"environment\": \"qa\u{0}\"}";
    let bodies: [(&str, &str, &str); 6] = [
        ("truncated JSON", "application/json", "{\"version\": "),
        (
            "JSON as text/plain",
            "text/plain",
            "{\"version\": \"9.9.9\", \"title\": \"x\", \"environment\": \"qa\"}",
        ),
        (
            "a form body",
            "application/x-www-form-urlencoded",
            "version=9.9.9&title=x&environment=qa",
        ),
        ("an array", "application/json", "[1, 2, 3]"),
        ("nested 5,000 deep", "application/json", &deep),
        ("NUL in every string", "application/json", nul),
    ];
    let before = app.count("SELECT count(*) AS n FROM audit_events");
    let mut failures = Vec::new();
    let mut sent = 0;
    for route in table::all().filter(|r| r.path.starts_with("/api/") && r.method != "GET") {
        let path = world.path(route.path);
        for (what, content_type, body) in &bodies {
            let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
            let response = client
                .request(method, app.url(&path))
                .bearer_auth(&secret)
                .header("content-type", *content_type)
                .body((*body).to_owned())
                .send()
                .await
                .unwrap();
            sent += 1;
            let status = response.status().as_u16();
            let json = response.json::<serde_json::Value>().await.ok();
            let named = json.as_ref().is_some_and(|j| j["error"].is_string());
            if !(400..500).contains(&status) || !named {
                failures.push(format!(
                    "{} {path} with {what}: {status} {json:?}",
                    route.method
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events"),
        before,
        "a broken body changed something"
    );
    assert!(sent >= 60, "{sent} requests");
}
