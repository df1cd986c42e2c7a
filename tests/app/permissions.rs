//! The access table: every page and action, for every kind of user, with
//! the exact answer, and proof that a refused action changed nothing.

use stagecoach::domain::audit::Actor;
use stagecoach::domain::{teams, users};

use crate::helpers::{ADMIN_PASSWORD, TestApp, location, new_client, spawn_app};

/// The kinds of user the table covers, in column order.
const KINDS: [&str; 7] = [
    "none", "viewer", "deployer", "approver", "team", "disabled", "admin",
];

/// (method, path with `{k}` for the user's column, form, expected per kind)
type Row = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    [Answer; 7],
);

/// What a request answered, reduced to what the table compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    /// 303 to somewhere other than the login page: the action happened.
    Done,
    /// 303 to the login page.
    Login,
    Forbidden,
    NotFound,
}
use Answer::*;

async fn answer(response: reqwest::Response) -> Answer {
    match response.status().as_u16() {
        200 => Ok,
        303 if location(&response).starts_with("/login") => Login,
        303 => Done,
        403 => Forbidden,
        404 => NotFound,
        other => panic!("unexpected status {other} for {}", response.url()),
    }
}

/// Counts of everything a refused action must leave alone.
fn fingerprint(app: &TestApp) -> Vec<i64> {
    [
        "projects",
        "environments",
        "releases",
        "environment_releases",
        "deployments",
        "grants",
        "teams",
        "team_members",
        "users",
    ]
    .iter()
    .map(|table| app.count(&format!("SELECT count(*) AS n FROM {table}")))
    .chain([app.count("SELECT count(*) AS n FROM users WHERE disabled OR is_admin")])
    .collect()
}

#[tokio::test]
async fn every_route_answers_each_kind_of_user_exactly_as_the_rules_say() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let (dev, qa) = (pipeline[0].id, pipeline[1].id);
    let system = Actor::system();
    let mut clients = Vec::new();
    for kind in KINDS {
        let client = new_client();
        if kind == "admin" {
            app.login_with(&client, "admin", ADMIN_PASSWORD).await;
            clients.push(client);
            continue;
        }
        let password = format!("{kind}-password-123");
        let user = app.create_user(kind, &password, false);
        match kind {
            "viewer" => app.grant(user.id, qa, "viewer"),
            "deployer" | "disabled" => {
                app.grant(user.id, dev, "deployer");
                app.grant(user.id, qa, "deployer");
            }
            "approver" => app.grant(user.id, qa, "approver"),
            "team" => {
                let team = teams::create(&mut app.conn(), &system, "QA team").unwrap();
                teams::add_member(&mut app.conn(), &system, &team, kind).unwrap();
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!(
                        "INSERT INTO grants (team_id, environment_id, role) VALUES ({}, {qa}, 'deployer')",
                        team.id
                    )),
                    &mut app.conn(),
                )
                .unwrap();
            }
            _ => {}
        }
        app.login_with(&client, kind, &password).await;
        if kind == "disabled" {
            users::set_disabled(&mut app.conn(), &system, user.id, true).unwrap();
        }
        clients.push(client);
    }
    // Each user acts on releases of their own, so one's success can't
    // change another's answer.
    for k in 0..KINDS.len() {
        for prefix in ["1.0", "2.0"] {
            let release = app.release(&project, &format!("{prefix}.{k}"));
            app.wait_for(release.id, dev, "succeeded").await;
        }
    }
    let tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for client in &clients {
            let html = client
                .get(app.url("/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            // Signed-in users are redirected from /login: take the token
            // from the dashboard, or the login form when signed out.
            let html = if html.contains("csrf_token") {
                html
            } else {
                client
                    .get(app.url("/"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            };
            tokens.push(crate::helpers::csrf_token_in(&html));
        }
        tokens
    };

    let s = &project.slug;
    // (method, path with {k} for the user's column, form, expected per kind)
    let table: Vec<Row> = vec![
        ("GET", "/".into(), vec![], [Ok, Ok, Ok, Ok, Ok, Login, Ok]),
        (
            "GET",
            format!("/projects/{s}"),
            vec![],
            [NotFound, Ok, Ok, Ok, Ok, Login, Ok],
        ),
        (
            "GET",
            format!("/projects/{s}/releases"),
            vec![],
            [NotFound, Ok, Ok, Ok, Ok, Login, Ok],
        ),
        (
            "GET",
            format!("/projects/{s}/releases/1.0.0"),
            vec![],
            [NotFound, Ok, Ok, Ok, Ok, Login, Ok],
        ),
        (
            "GET",
            format!("/projects/{s}/environments/qa"),
            vec![],
            [NotFound, Ok, Ok, Ok, Ok, Login, Ok],
        ),
        (
            "GET",
            format!("/projects/{s}/releases/new"),
            vec![],
            [NotFound, Forbidden, Ok, Forbidden, Forbidden, Login, Ok],
        ),
        (
            "POST",
            format!("/projects/{s}/releases/new"),
            vec![("version", "3.0.{k}".into()), ("title", "New".into())],
            [NotFound, Forbidden, Done, Forbidden, Forbidden, Login, Done],
        ),
        (
            "POST",
            format!("/projects/{s}/releases/1.0.{{k}}/deploy"),
            vec![("environment", "qa".into())],
            [NotFound, Forbidden, Done, Forbidden, Done, Login, Done],
        ),
        (
            "POST",
            format!("/projects/{s}/releases/1.0.{{k}}/deploy"),
            vec![("environment", "staging".into())],
            [
                NotFound, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "GET",
            format!("/projects/{s}/releases/2.0.{{k}}/delete"),
            vec![],
            [NotFound, Forbidden, Ok, Forbidden, Forbidden, Login, Ok],
        ),
        (
            "POST",
            format!("/projects/{s}/releases/2.0.{{k}}/delete"),
            vec![],
            [NotFound, Forbidden, Done, Forbidden, Forbidden, Login, Done],
        ),
        (
            "GET",
            "/admin".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "GET",
            "/admin/projects".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            format!("/admin/projects/{s}"),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            format!("/admin/projects/{s}/access"),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            "/admin/users".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            "/admin/teams".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            "/admin/audit".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "GET",
            "/admin/audit.csv".into(),
            vec![],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Ok,
            ],
        ),
        (
            "POST",
            "/admin/projects".into(),
            vec![("name", "Project {k}".into())],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "POST",
            format!("/admin/projects/{s}/environments"),
            vec![("name", "Extra {k}".into())],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "POST",
            format!("/admin/projects/{s}/access"),
            vec![
                ("holder", "user:{uid}".into()),
                ("environment", "production".into()),
                ("role", "deployer".into()),
            ],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "POST",
            "/admin/users".into(),
            vec![
                ("username", "made-by-{k}".into()),
                ("password", "a-long-password-1".into()),
            ],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
        (
            "POST",
            "/admin/teams".into(),
            vec![("name", "Team {k}".into())],
            [
                Forbidden, Forbidden, Forbidden, Forbidden, Forbidden, Login, Done,
            ],
        ),
    ];

    let uid = users::find_by_username(&mut app.conn(), "viewer")
        .unwrap()
        .unwrap()
        .id;
    let mut failures = Vec::new();
    for (method, path, form, expected) in &table {
        if form.iter().any(|(_, v)| v == "staging") {
            // Promotion to Staging needs success in QA first.
            for k in [2, 4, 6] {
                let release = stagecoach::domain::releases::find(
                    &mut app.conn(),
                    project.id,
                    &format!("1.0.{k}"),
                )
                .unwrap()
                .unwrap();
                app.wait_for(release.id, qa, "succeeded").await;
            }
        }
        for (k, kind) in KINDS.iter().enumerate() {
            let fill = |v: &str| {
                v.replace("{k}", &k.to_string())
                    .replace("{uid}", &uid.to_string())
            };
            let url = app.url(&fill(path));
            let before = fingerprint(&app);
            let response = if *method == "GET" {
                clients[k].get(&url).send().await.unwrap()
            } else {
                let mut fields: Vec<(String, String)> =
                    form.iter().map(|(n, v)| (n.to_string(), fill(v))).collect();
                fields.push(("csrf_token".into(), tokens[k].clone()));
                clients[k].post(&url).form(&fields).send().await.unwrap()
            };
            let got = answer(response).await;
            if got != expected[k] {
                failures.push(format!(
                    "{method} {} as {kind}: expected {:?}, got {got:?}",
                    fill(path),
                    expected[k]
                ));
            }
            if !matches!(got, Ok | Done) && *method == "POST" && before != fingerprint(&app) {
                failures.push(format!(
                    "{method} {} as {kind} was refused but changed the database",
                    fill(path)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_team_grant_takes_effect_and_ends_on_the_next_request() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let system = Actor::system();
    let member = app.create_user("tess", "tess-password-1", false);
    let team = teams::create(&mut app.conn(), &system, "Release crew").unwrap();
    teams::add_member(&mut app.conn(), &system, &team, "tess").unwrap();
    let client = new_client();
    app.login_with(&client, "tess", "tess-password-1").await;
    let page = format!("/projects/{}", project.slug);
    assert_eq!(app.get_with(&client, &page).await.status().as_u16(), 404);

    stagecoach::domain::grants::add(
        &mut app.conn(),
        &system,
        &pipeline[1],
        stagecoach::domain::grants::Holder::Team(team.id),
        stagecoach::domain::access::Role::Viewer,
    )
    .unwrap();
    assert_eq!(
        app.get_with(&client, &page).await.status().as_u16(),
        200,
        "granted through the team"
    );

    teams::remove_member(&mut app.conn(), &system, &team, member.id).unwrap();
    assert_eq!(
        app.get_with(&client, &page).await.status().as_u16(),
        404,
        "gone with the membership"
    );
}
