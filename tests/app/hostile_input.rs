//! Hostile input (issue 9, findings 5, 6, 7, 10, 11 and 12): NUL bytes,
//! control characters, bidi overrides and out-of-range dates, swept over
//! every form and parameter; extractor failures; body limits that follow
//! the documented limits in characters.

use diesel::prelude::*;
use stagecoach::db::schema::{audit_events, release_artifacts, releases, steps};
use stagecoach::domain::environments::{self, Environment, PolicyInput};
use stagecoach::domain::ids::DeploymentId;
use stagecoach::domain::secrets::SecretBox;
use stagecoach::domain::variables::{self, VariableError, VariableInput};
use stagecoach::domain::{deployments, teams};

use crate::helpers::fixtures::admin;
use crate::helpers::{TEST_SECRET_KEY, TestApp, location, new_client, spawn_app};

/// What a refused POST must say: its phrase (the field error or the error
/// page's message), and on a 400 page also the field's name.
#[derive(Clone, Copy)]
enum Class {
    Nul,
    Control,
    Date,
}

impl Class {
    fn phrase(self) -> &'static str {
        match self {
            Class::Nul => "NUL",
            Class::Control => "control character",
            Class::Date => "1970",
        }
    }
}

struct Post {
    path: String,
    fields: Vec<(&'static str, String)>,
    /// The field that carries the hostile value.
    field: &'static str,
    class: Class,
    /// Rows that must not change: `SELECT count(*) AS n FROM …`.
    table: &'static str,
}

fn post(
    path: impl Into<String>,
    fields: &[(&'static str, &str)],
    field: &'static str,
    class: Class,
    table: &'static str,
) -> Post {
    Post {
        path: path.into(),
        fields: fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        field,
        class,
        table,
    }
}

/// A project whose QA needs one approval, a release that succeeded in
/// Development and waits for approval in QA, another that may go to QA, a
/// step and a team.
struct World {
    slug: String,
    pipeline: Vec<Environment>,
    version: String,
    waiting: DeploymentId,
    step: i64,
    team: i64,
}

async fn world(app: &TestApp) -> World {
    let (project, pipeline) = app.project("Shop");
    let mut input = PolicyInput::of(&pipeline[1]);
    input.required_approvals = "1".to_owned();
    environments::set_policy(&mut app.conn(), &admin(), &pipeline[1], &input).unwrap();
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let waiting = deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &deployments::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(waiting.status.as_str(), "awaiting_approval");
    // A release the page offers to deploy to QA, where the deploy form's
    // field errors are shown.
    let next = app.release(&project, "1.1.0");
    app.wait_for(next.id, pipeline[0].id, "succeeded").await;
    let step = stagecoach::domain::steps::add(
        &mut app.conn(),
        &admin(),
        &pipeline[2],
        &stagecoach::domain::steps::StepInput {
            kind: "script".into(),
            name: "Smoke".into(),
            script: "true".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let team = teams::create(&mut app.conn(), &admin(), "Ops").unwrap();
    World {
        slug: project.slug,
        pipeline: environments::list(&mut app.conn(), project.id).unwrap(),
        version: next.version,
        waiting: waiting.id,
        step: step.id,
        team: team.id,
    }
}

/// Every form field that reaches the database, with each hostile class
/// that applies to it.
fn posts(w: &World) -> Vec<Post> {
    use Class::*;
    let nul = "bad\0value";
    let s = &w.slug;
    let release_form = format!("/projects/{s}/releases/new");
    let release = |field: &'static str, value: &str, class: Class| {
        let mut fields = vec![
            ("version", "2.0.0"),
            ("title", "Two"),
            ("description", "Notes"),
            ("artifact_name", "web"),
            ("artifact_reference", "web:2.0.0"),
            ("artifact_url", ""),
            ("artifact_sha256", ""),
        ];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        post(&release_form, &fields, field, class, "releases")
    };
    let deploy_path = format!("/projects/{s}/releases/{}/deploy", w.version);
    let deploy = |field: &'static str, value: &str, class: Class| {
        let mut fields = vec![
            ("environment", "qa"),
            ("version_label", ""),
            ("comment", "again"),
            ("not_before", ""),
        ];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        post(&deploy_path, &fields, field, class, "deployments")
    };
    let env = |name: &str| format!("/admin/projects/{s}/environments/{name}");
    let steps_path = format!("{}/steps", env("staging"));
    let step_update = format!("{}/steps/{}", env("staging"), w.step);
    let variables_path = format!("{}/variables", env("staging"));
    let policy_path = format!("{}/policy", env("production"));
    let policy = |field: &'static str, value: &str| {
        let mut input = PolicyInput::of(&w.pipeline[3]);
        match field {
            "window_time_zone" => {
                input.window_start = "09:00".into();
                input.window_end = "17:00".into();
                input.window_days = vec!["1".into()];
                input.window_time_zone = value.into();
            }
            _ => {
                input.trigger = "schedule".into();
                input.schedule_days = vec!["1".into()];
                input.schedule_time = "03:00".into();
                input.schedule_time_zone = value.into();
            }
        }
        let mut fields: Vec<(&'static str, String)> = vec![
            ("max_running", input.max_running.clone()),
            ("queue_policy", input.queue_policy.clone()),
            ("required_approvals", input.required_approvals.clone()),
            (
                "approval_timeout_hours",
                input.approval_timeout_hours.clone(),
            ),
            ("window_start", input.window_start.clone()),
            ("window_end", input.window_end.clone()),
            ("window_time_zone", input.window_time_zone.clone()),
            ("trigger", input.trigger.clone()),
            ("schedule_time", input.schedule_time.clone()),
            ("schedule_time_zone", input.schedule_time_zone.clone()),
        ];
        fields.extend(input.window_days.iter().map(|d| ("window_days", d.clone())));
        fields.extend(
            input
                .schedule_days
                .iter()
                .map(|d| ("schedule_days", d.clone())),
        );
        Post {
            path: policy_path.clone(),
            fields,
            field,
            class: Nul,
            table: "environments WHERE window_start IS NOT NULL OR trigger = 'schedule'",
        }
    };
    let freezes_path = format!("/admin/projects/{s}/freezes");
    let freeze = |field: &'static str, value: &str, class: Class| {
        let mut fields = vec![
            ("environment", ""),
            ("reason", "Holidays"),
            ("kind", "once"),
            ("starts_at", "2030-12-20T00:00"),
            ("ends_at", "2031-01-02T00:00"),
            ("time_zone", "UTC"),
        ];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        post(&freezes_path, &fields, field, class, "freezes")
    };
    let d = w.waiting;
    let decide = |action: &str, field: &'static str, value: &str, class: Class| {
        let mut fields = vec![("comment", "fine"), ("until", "")];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        post(
            format!("/deployments/{d}/{action}"),
            &fields,
            field,
            class,
            "approvals",
        )
    };
    let team = w.team;
    vec![
        // Releases: title, description, artifacts.
        release("title", nul, Nul),
        release("description", nul, Nul),
        release("artifact_name", nul, Nul),
        release("artifact_reference", nul, Nul),
        release("title", "Two \u{202e}gnp.exe", Control),
        release("title", "Two\u{1b}[2J", Control),
        release("artifact_name", "web\nadmin", Control),
        // Deploying: comment, not-before time.
        deploy("comment", nul, Nul),
        deploy("version_label", nul, Nul),
        deploy("comment", "Ship \u{202e}gnp.exe", Control),
        deploy("comment", "Ship\u{1b}[2J", Control),
        deploy("not_before", "-5000-01-01T00:00", Date),
        deploy("not_before", "+200000-01-01T00:00", Date),
        deploy("not_before", "1969-12-31T23:59", Date),
        // Approvals: comments, deferral times, break-glass reasons.
        decide("approve", "comment", nul, Nul),
        decide("reject", "comment", nul, Nul),
        decide("defer", "comment", nul, Nul),
        post(
            format!("/deployments/{d}/override"),
            &[("reason", nul)],
            "reason",
            Nul,
            "deployments WHERE override_reason IS NOT NULL",
        ),
        // Projects, environments, teams, users, access.
        post(
            "/admin/projects",
            &[("name", nul), ("slug", ""), ("description", "")],
            "name",
            Nul,
            "projects",
        ),
        post(
            "/admin/projects",
            &[("name", "Web"), ("slug", "web"), ("description", nul)],
            "description",
            Nul,
            "projects",
        ),
        post(
            "/admin/projects",
            &[("name", "Web\u{7}"), ("slug", "web"), ("description", "")],
            "name",
            Control,
            "projects",
        ),
        post(
            format!("/admin/projects/{s}/environments"),
            &[("name", nul), ("url", ""), ("trigger", "manual")],
            "name",
            Nul,
            "environments",
        ),
        post(
            format!("/admin/projects/{s}/environments"),
            &[("name", "Perf\u{202e}"), ("url", ""), ("trigger", "manual")],
            "name",
            Control,
            "environments",
        ),
        post(
            format!("/admin/projects/{s}/environments/qa"),
            &[("name", "QA\tEU"), ("url", ""), ("trigger", "manual")],
            "name",
            Control,
            "environments WHERE name <> 'QA'",
        ),
        post("/admin/teams", &[("name", nul)], "name", Nul, "teams"),
        post(
            "/admin/teams",
            &[("name", "Ops\u{202e}2")],
            "name",
            Control,
            "teams",
        ),
        post(
            format!("/admin/teams/{team}/rename"),
            &[("name", nul)],
            "name",
            Nul,
            "teams WHERE name = 'Ops'",
        ),
        post(
            format!("/admin/teams/{team}/members"),
            &[("username", nul)],
            "username",
            Nul,
            "team_members",
        ),
        post(
            "/admin/users",
            &[
                ("username", nul),
                ("display_name", "Eve"),
                ("password", "a-long-password-1"),
            ],
            "username",
            Nul,
            "users",
        ),
        post(
            "/admin/users",
            &[
                ("username", "eve"),
                ("display_name", nul),
                ("password", "a-long-password-1"),
            ],
            "display_name",
            Nul,
            "users",
        ),
        post(
            "/admin/users",
            &[
                ("username", "eve"),
                ("display_name", "Eve\u{1b}]0;pwned\u{7}"),
                ("password", "a-long-password-1"),
            ],
            "display_name",
            Control,
            "users",
        ),
        post(
            format!("/admin/projects/{s}/access"),
            &[("holder", nul), ("environment", "qa"), ("role", "viewer")],
            "holder",
            Nul,
            "grants",
        ),
        // Pipeline settings: time zones, steps, variables.
        policy("window_time_zone", "Europe/Berlin\0"),
        policy("schedule_time_zone", "UTC\0"),
        post(
            &steps_path,
            &[
                ("kind", "script"),
                ("name", nul),
                ("script", "true"),
                ("timeout_seconds", ""),
            ],
            "name",
            Nul,
            "steps",
        ),
        post(
            &steps_path,
            &[
                ("kind", "script"),
                ("name", "Migrate"),
                ("script", "echo a\0b"),
                ("timeout_seconds", ""),
            ],
            "script",
            Nul,
            "steps",
        ),
        post(
            &steps_path,
            &[
                ("kind", "script"),
                ("name", "Migrate\r\nnext"),
                ("script", "true"),
                ("timeout_seconds", ""),
            ],
            "name",
            Control,
            "steps",
        ),
        post(
            &steps_path,
            &[
                ("kind", "script"),
                ("name", "Migrate"),
                ("script", "echo \u{1b}[2J"),
                ("timeout_seconds", ""),
            ],
            "script",
            Control,
            "steps",
        ),
        post(
            &step_update,
            &[
                ("kind", "script"),
                ("name", "Smoke"),
                ("script", "a\0b"),
                ("timeout_seconds", ""),
            ],
            "script",
            Nul,
            "steps WHERE script = 'true'",
        ),
        post(
            &variables_path,
            &[("name", "TOKEN"), ("value", nul)],
            "value",
            Nul,
            "variables",
        ),
        post(
            &variables_path,
            &[("name", "TOKEN"), ("value", "a\u{1b}b")],
            "value",
            Control,
            "variables",
        ),
        // Freezes: reason, time zone, dates.
        freeze("reason", nul, Nul),
        freeze("time_zone", "UTC\0", Nul),
        freeze("starts_at", "-5000-01-01T00:00", Date),
        freeze("ends_at", "+200000-01-01T00:00", Date),
    ]
}

/// Sends `fields` and the CSRF token as a form.
async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    path: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    form.push(("csrf_token", token));
    client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .expect("POST")
}

fn audit_rows(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM audit_events")
}

#[tokio::test]
async fn hostile_text_and_dates_are_refused_by_every_form_and_parameter_and_change_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.login_admin().await;
    let token = app.csrf_token_with(&app.client, "/admin/projects").await;
    let mut failures = Vec::new();

    for case in posts(&w) {
        let what = format!(
            "POST {} with a {} {}",
            case.path,
            match case.class {
                Class::Nul => "NUL in",
                Class::Control => "control character in",
                Class::Date => "date out of range in",
            },
            case.field
        );
        let count = format!("SELECT count(*) AS n FROM {}", case.table);
        let (rows, audit) = (app.count(&count), audit_rows(&app));
        let response = send(&app, &app.client, &token, &case.path, &case.fields).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let answer_ok = match status {
            422 => body.contains(case.class.phrase()),
            400 => body.contains(case.class.phrase()) && body.contains(case.field),
            _ => false,
        };
        if !answer_ok {
            failures.push(format!("{what}: answered {status}"));
        }
        if app.count(&count) != rows || audit_rows(&app) != audit {
            failures.push(format!("{what}: something was written"));
        }
    }

    // A deferral reports its problem on the page it returns to.
    let defer = format!("/deployments/{}/defer", w.waiting);
    for until in ["-5000-01-01T00:00", "+200000-01-01T00:00"] {
        let audit = audit_rows(&app);
        let response = send(
            &app,
            &app.client,
            &token,
            &defer,
            &[("comment", String::new()), ("until", until.to_owned())],
        )
        .await;
        let status = response.status().as_u16();
        let page = if status == 303 {
            app.get_html(&location(&response)).await
        } else {
            String::new()
        };
        if !page.contains("1970") {
            failures.push(format!("defer until {until}: answered {status}"));
        }
        if audit_rows(&app) != audit {
            failures.push(format!("defer until {until}: something was written"));
        }
    }

    // Parameters in the address: the 404 page for a path, the 400 page
    // for a query (or, for the audit filter form, the form with the error
    // beside the field).
    let s = &w.slug;
    let (not_found, bad, filter) = (
        (404, "Page not found"),
        (400, "Bad request"),
        (400, "Use a year from 1970 to 9999."),
    );
    let gets = [
        ("/projects/a%00b".to_owned(), not_found),
        (format!("/projects/{s}/environments/qa%00"), not_found),
        ("/admin/projects/a%00b/freezes".to_owned(), not_found),
        (format!("/projects/{s}/releases/1.0.0%00"), not_found),
        (format!("/projects/{s}/releases?q=a%00b"), bad),
        (format!("/projects/{s}/releases?env=a%00b"), bad),
        ("/admin/audit?actor=a%00b".to_owned(), bad),
        ("/admin/audit?action=login%00".to_owned(), bad),
        ("/admin/audit.csv?actor=a%00b".to_owned(), bad),
        ("/admin/audit?from=-5000-01-01".to_owned(), filter),
        ("/admin/audit?to=%2B200000-01-01".to_owned(), filter),
        ("/admin/audit?from=1969-12-31".to_owned(), filter),
        ("/admin/audit.csv?from=-5000-01-01".to_owned(), bad),
        ("/admin/audit.csv?to=%2B200000-01-01".to_owned(), bad),
    ];
    for (path, (expected, page)) in gets {
        let response = app.get(&path).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if status != expected || !body.contains(page) {
            failures.push(format!("GET {path}: answered {status}, not {expected}"));
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether `text` holds a character that reorders or controls a terminal
/// or a page: C0/C1 controls and the bidi embeddings, overrides, isolates.
fn has_control_or_bidi(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_control() && c != '\n'
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

#[tokio::test]
async fn a_login_with_a_nul_or_bidi_username_is_refused_and_audited_with_the_name_cleaned() {
    let app = spawn_app().await;
    for name in ["adm\0in", "\u{202e}nimda", "eve\u{1b}[31m\r\nFAKE entry"] {
        let client = new_client();
        let (attempts, audit) = (
            app.count("SELECT count(*) AS n FROM login_attempts"),
            audit_rows(&app),
        );
        let response = app.login_with(&client, name, "some-password-123").await;
        let status = response.status().as_u16();
        assert!(
            status == 200 || status == 422,
            "login as {name:?} answered {status}"
        );
        assert!(response.text().await.unwrap().contains("did not work"));
        assert_eq!(
            app.count("SELECT count(*) AS n FROM login_attempts"),
            attempts + 1,
            "the attempt as {name:?} is counted for throttling"
        );
        assert_eq!(audit_rows(&app), audit + 1, "the attempt is audited");
        let (actor, action, object): (String, String, Option<String>) = audit_events::table
            .order(audit_events::id.desc())
            .select((
                audit_events::actor_name,
                audit_events::action,
                audit_events::object_id,
            ))
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(action, "login.failed");
        assert!(!has_control_or_bidi(&actor), "actor {actor:?}");
        assert!(!has_control_or_bidi(&object.unwrap_or_default()));
    }
    // The user the NUL name looks like is not the user it signs in as.
    let response = app.login("adm\0in", crate::helpers::ADMIN_PASSWORD).await;
    assert_ne!(response.status().as_u16(), 303);
}

#[tokio::test]
async fn the_audit_page_and_csv_show_attacker_names_without_controls_or_bidi_overrides() {
    let app = spawn_app().await;
    let hostile = "\u{202e}gnp.exe\u{1b}[2J\u{7}\r\nsystem,login.succeeded";
    app.login_with(&new_client(), hostile, "some-password-123")
        .await;
    app.login_admin().await;
    let page = app.get_html("/admin/audit?action=login.failed").await;
    assert!(page.contains("gnp.exe"), "the attempt is listed");
    assert!(!has_control_or_bidi(&page), "the page holds no controls");
    assert!(
        page.contains("\\u{202e}"),
        "the override is shown escaped, for the record"
    );
    let csv = app
        .get("/admin/audit.csv?action=login.failed")
        .await
        .text()
        .await
        .unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.len(),
        2,
        "one header and one event, on one line: {csv:?}"
    );
    assert!(!has_control_or_bidi(&csv), "the CSV holds no controls");
}

#[tokio::test]
async fn a_secret_variable_that_cannot_be_passed_to_a_process_is_refused() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    app.login_admin().await;
    let path = format!(
        "/admin/projects/{}/environments/development/variables",
        project.slug
    );
    let response = app
        .post_form(
            &path,
            "/admin/projects",
            &[("name", "TOKEN"), ("value", "abc\0def"), ("secret", "on")],
        )
        .await;
    let status = response.status().as_u16();
    assert!(status == 400 || status == 422, "answered {status}");
    assert!(response.text().await.unwrap().contains("NUL"));
    assert_eq!(app.count("SELECT count(*) AS n FROM variables"), 0);

    // Refused where it is stored, whatever the caller.
    let secrets = SecretBox::from_secret_key(TEST_SECRET_KEY);
    for value in ["abc\0def", "\0"] {
        for secret in [true, false] {
            let outcome = variables::set(
                &mut app.conn(),
                &admin(),
                &secrets,
                &pipeline[0],
                &VariableInput {
                    name: "TOKEN".into(),
                    value: value.into(),
                    secret,
                },
            );
            match outcome {
                Err(VariableError::Invalid(errors)) => {
                    assert!(errors.get("value").unwrap().contains("NUL"))
                }
                other => panic!("secret={secret} {value:?} was {other:?}"),
            }
        }
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM variables"), 0);
    // Multi-line values (keys, certificates) are still fine.
    variables::set(
        &mut app.conn(),
        &admin(),
        &secrets,
        &pipeline[0],
        &VariableInput {
            name: "KEY".into(),
            value: "-----BEGIN KEY-----\nabc\r\n\tdef\n-----END KEY-----".into(),
            secret: true,
        },
    )
    .unwrap();
}

#[tokio::test]
async fn documented_character_limits_can_be_reached_and_larger_bodies_get_413() {
    let app = spawn_app().await;
    let (project, _) = app.project("Shop");
    app.login_admin().await;
    let token = app.csrf_token_with(&app.client, "/admin/projects").await;
    let steps_path = format!(
        "/admin/projects/{}/environments/staging/steps",
        project.slug
    );

    // 70,000 characters of script, and the whole 100,000 as 4-byte emoji.
    let ascii = format!("echo {}", "x".repeat(70_000 - 5));
    let emoji = "😀".repeat(100_000);
    for (name, script) in [("Long", &ascii), ("Emoji", &emoji)] {
        let response = send(
            &app,
            &app.client,
            &token,
            &steps_path,
            &[
                ("kind", "script".to_owned()),
                ("name", name.to_owned()),
                ("script", script.clone()),
                ("timeout_seconds", String::new()),
            ],
        )
        .await;
        assert_eq!(response.status().as_u16(), 303, "the {name} script");
        let stored: String = steps::table
            .filter(steps::name.eq(name))
            .select(steps::script)
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(stored.chars().count(), script.chars().count());
        assert_eq!(&stored, script);
    }

    // 10,000 emoji of description, with twenty full artifacts.
    let description = "🚀".repeat(10_000);
    let release_path = format!("/projects/{}/releases/new", project.slug);
    let long_url = format!("https://example.com/{}", "ü".repeat(1_980));
    let mut fields = vec![
        ("version", "3.0.0".to_owned()),
        ("title", "é".repeat(200)),
        ("description", description.clone()),
    ];
    for i in 0..20 {
        fields.push(("artifact_name", format!("{i}{}", "名".repeat(198))));
        fields.push(("artifact_reference", "参".repeat(200)));
        fields.push(("artifact_url", long_url.clone()));
        fields.push(("artifact_sha256", "a".repeat(64)));
    }
    let response = send(&app, &app.client, &token, &release_path, &fields).await;
    assert_eq!(response.status().as_u16(), 303, "the release");
    let stored: String = releases::table
        .filter(releases::version.eq("3.0.0"))
        .select(releases::description)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored, description);
    assert_eq!(
        release_artifacts::table
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap(),
        20
    );

    // One character over is a field error, not a 413.
    let response = send(
        &app,
        &app.client,
        &token,
        &steps_path,
        &[
            ("kind", "script".to_owned()),
            ("name", "Over".to_owned()),
            ("script", "😀".repeat(100_001)),
            ("timeout_seconds", String::new()),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.text().await.unwrap().contains("100,000"));

    // A body larger than any form may be still gets the 413 page.
    let steps_before = app.count("SELECT count(*) AS n FROM steps");
    for path in [&steps_path, &release_path, &"/admin/teams".to_owned()] {
        let response = send(
            &app,
            &app.client,
            &token,
            path,
            &[
                ("kind", "script".to_owned()),
                ("name", "Huge".to_owned()),
                ("script", "😀".repeat(150_000)),
            ],
        )
        .await;
        assert_eq!(response.status().as_u16(), 413, "POST {path}");
        assert!(response.text().await.unwrap().contains("Request too large"));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM steps"), steps_before);
}

#[tokio::test]
async fn extractor_failures_render_the_error_pages() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.login_admin().await;

    for path in [
        "/deployments/abc",
        "/deployments/99999999999999999999999",
        "/admin/users/abc",
        "/admin/teams/1x",
        "/deployments/abc/log.txt",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 404, "GET {path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Page not found"), "GET {path}: {html}");
    }

    // The live log answers JSON, errors included.
    let response = app
        .get(&format!("/deployments/{}/log.json?after=abc", w.waiting))
        .await;
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert!(
        !body.to_string().contains("deserialize"),
        "no parser internals: {body}"
    );

    // A query parameter sent twice on a page: the 400 page.
    let response = app
        .get(&format!("/projects/{}/releases?before=1&before=2", w.slug))
        .await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.unwrap().contains("Bad request"));

    // A field sent twice: the 400 page, naming it, no parser internals.
    let admin_id: i64 = app.count("SELECT id AS n FROM users WHERE username = 'admin'");
    let audit = audit_rows(&app);
    let token = app.csrf_token_with(&app.client, "/admin/users").await;
    let response = send(
        &app,
        &app.client,
        &token,
        &format!("/admin/users/{admin_id}/admin"),
        &[("change", "grant".into()), ("change", "revoke".into())],
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("Bad request"));
    assert!(html.contains("“change”"), "names the field: {html}");
    assert!(!html.contains("duplicate field `change`"), "{html}");
    assert_eq!(audit_rows(&app), audit);
}

/// Path traversal in every kind of path segment, sent byte for byte as
/// written (a URL parser would resolve `..` and `%2e%2e` before sending):
/// nothing outside the app's own files is ever served, no answer is a
/// 2xx or a 5xx, and the app's source and the machine's files stay out of
/// every body.
#[tokio::test]
async fn path_traversal_in_slugs_versions_and_files_is_refused_and_serves_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let client = new_client();
    let signed_in = app
        .login_with(&client, "admin", crate::helpers::ADMIN_PASSWORD)
        .await;
    let cookie = crate::helpers::session_cookie(&signed_in).expect("a session");
    let (project, _) = app.project("Shop");
    app.release(&project, "1.0.0");
    let token = crate::api::token(&app, crate::helpers::fixtures::ADMIN_ID, "", &[]);
    let climbs = [
        "../../Cargo.toml",
        "..%2F..%2FCargo.toml",
        "%2e%2e%2f%2e%2e%2fCargo.toml",
        "%2e%2e/%2e%2e/Cargo.toml",
        "..%5C..%5CCargo.toml",
        "..",
        "%2e%2e",
        "../../../../etc/passwd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%252e%252e%252fCargo.toml",
        "..%00.css",
    ];
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut sent = 0;
    for climb in climbs {
        for prefix in [
            "/static/",
            "/projects/",
            "/projects/shop/releases/",
            "/projects/shop/environments/",
            "/deployments/",
            "/admin/projects/",
            "/api/v1/projects/",
            "/api/v1/projects/shop/releases/",
        ] {
            let path = format!("{prefix}{climb}");
            let credentials = if prefix.starts_with("/api/") {
                format!("Authorization: Bearer {token}")
            } else {
                format!("Cookie: stagecoach={cookie}")
            };
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            stream
                .write_all(
                    format!(
                        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{credentials}\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            let answer = String::from_utf8_lossy(&answer);
            let status: u16 = answer
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{path}: no status in {answer}"));
            sent += 1;
            assert!(
                (300..500).contains(&status) && status != 304,
                "{path}: {status}"
            );
            assert!(
                !answer.contains("[package]") && !answer.contains("root:x:0:0"),
                "{path} served a file"
            );
        }
    }
    assert_eq!(sent, 88);
}
