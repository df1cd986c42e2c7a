use crate::helpers::fixtures::admin;
use crate::helpers::{location, new_client, spawn_app};

#[tokio::test]
async fn an_admin_creates_a_project_with_the_default_pipeline() {
    let app = spawn_app().await;
    app.login_admin().await;
    let response = app
        .post_form(
            "/admin/projects",
            "/admin/projects",
            &[
                ("name", "Billing API"),
                ("slug", ""),
                ("description", "Invoices"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/admin/projects/billing-api");
    let html = app.get_html("/admin/projects/billing-api").await;
    for name in ["Development", "QA", "Staging", "Production"] {
        assert!(
            html.contains(&format!("value=\"{name}\"")),
            "{name} missing"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM environments"), 4);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM environments WHERE trigger = 'on_release'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'project.created'"),
        1
    );
}

#[tokio::test]
async fn a_bad_project_form_comes_back_with_its_values_and_errors() {
    let app = spawn_app().await;
    app.login_admin().await;
    app.project("Taken");
    let response = app
        .post_form(
            "/admin/projects",
            "/admin/projects",
            &[
                ("name", ""),
                ("slug", "Bad Slug"),
                ("description", "kept <b>text</b>"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a name."));
    assert!(
        html.contains("Start with a lower-case letter or digit.")
            || html.contains("Use only lower-case")
    );
    assert!(html.contains("value=\"Bad Slug\""));
    assert!(
        html.contains("kept &#60;b&#62;text&#60;/b&#62;")
            || html.contains("kept &lt;b&gt;text&lt;/b&gt;")
    );

    let response = app
        .post_form(
            "/admin/projects",
            "/admin/projects",
            &[("name", "Taken again"), ("slug", "taken")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Another project already uses this slug.")
    );
}

#[tokio::test]
async fn only_admins_manage_projects() {
    let app = spawn_app().await;
    app.create_user("dev", "dev-password-12", false);
    let client = new_client();
    app.login_with(&client, "dev", "dev-password-12").await;
    let response = app.get_with(&client, "/admin/projects").await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Only administrators")
    );
    let response = app
        .post_form_with(&client, "/admin/projects", "/", &[("name", "Sneaky")])
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.count("SELECT count(*) AS n FROM projects"), 0);
    assert!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied'") >= 2
    );
}

#[tokio::test]
async fn an_admin_edits_the_pipeline() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let base = format!("/admin/projects/{}", project.slug);

    // Add, with a URL.
    let response = app
        .post_form(
            &format!("{base}/environments"),
            &base,
            &[
                ("name", "Perf"),
                ("url", "https://perf.shop.example"),
                ("trigger", "manual"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    // Rename QA and give it a URL.
    let response = app
        .post_form(
            &format!("{base}/environments/qa"),
            &base,
            &[
                ("name", "Quality"),
                ("url", "https://qa.shop.example"),
                ("trigger", "manual"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    // Move Perf earlier, before Production.
    let response = app
        .post_form(
            &format!("{base}/environments/perf/move"),
            &base,
            &[("direction", "earlier")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let names: Vec<String> = stagecoach::domain::environments::list(&mut app.conn(), project.id)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        ["Development", "Quality", "Staging", "Perf", "Production"]
    );

    // The URL shows as a link wherever the environment appears.
    let html = app.get_html(&format!("/projects/{}", project.slug)).await;
    assert!(html.contains("href=\"https://qa.shop.example\""));

    // A bad URL is refused beside its field, the typed values kept.
    let response = app
        .post_form(
            &format!("{base}/environments/staging"),
            &base,
            &[
                ("name", "Staging"),
                ("url", "javascript:alert(1)"),
                ("trigger", "manual"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a URL starting with https://"));
    assert!(html.contains("value=\"javascript:alert(1)\""));

    // Remove one no release reached; refuse one that a release reached.
    let response = app
        .post_form(&format!("{base}/environments/perf/remove"), &base, &[])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    app.release(&project, "1.0.0");
    let response = app
        .post_form(
            &format!("{base}/environments/development/remove"),
            &base,
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let html = app.get_html(&base).await;
    assert!(
        html.contains("Development can&#39;t be removed")
            || html.contains("Development can't be removed")
            || html.contains("Development can&#x27;t be removed"),
        "{html}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM environments WHERE project_id = {}",
            project.id
        )),
        4
    );
    assert_eq!(pipeline.len(), 4);
    assert!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'environment.%'") >= 4
    );
}

#[tokio::test]
async fn removing_from_the_middle_of_a_list_keeps_its_positions_dense() {
    use stagecoach::domain::steps::{self, StepInput};
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let positions = |sql: String| -> Vec<i64> {
        let rows: Vec<Position> =
            diesel::RunQueryDsl::load(diesel::sql_query(sql), &mut app.conn()).unwrap();
        rows.into_iter().map(|r| r.n).collect()
    };

    stagecoach::domain::environments::remove(&mut app.conn(), &admin(), &pipeline[1]).unwrap();
    assert_eq!(
        positions(format!(
            "SELECT position::bigint AS n FROM environments WHERE project_id = {} ORDER BY position",
            project.id
        )),
        [0, 1, 2],
        "QA gone, Staging and Production moved up"
    );

    let dev = &pipeline[0];
    let added: Vec<_> = ["Build", "Check", "Ship"]
        .into_iter()
        .map(|name| {
            steps::add(
                &mut app.conn(),
                &admin(),
                dev,
                &StepInput {
                    kind: "script".into(),
                    name: name.into(),
                    script: "true".into(),
                    timeout_seconds: "60".into(),
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    steps::remove(&mut app.conn(), &admin(), dev, &added[1]).unwrap();
    assert_eq!(
        positions(format!(
            "SELECT position::bigint AS n FROM steps WHERE environment_id = {} ORDER BY position",
            dev.id
        )),
        [0, 1]
    );
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn moving_a_step_swaps_it_with_its_neighbour_and_not_past_the_end() {
    use stagecoach::domain::ordering::Direction;
    use stagecoach::domain::steps::{self, StepInput};
    let app = spawn_app().await;
    let (_, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    let added: Vec<_> = ["Build", "Check", "Ship"]
        .into_iter()
        .map(|name| {
            steps::add(
                &mut app.conn(),
                &admin(),
                dev,
                &StepInput {
                    kind: "script".into(),
                    name: name.into(),
                    script: "true".into(),
                    timeout_seconds: "60".into(),
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    let names = || -> Vec<String> {
        steps::for_environments(&mut app.conn(), &[dev.id])
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    steps::shift(
        &mut app.conn(),
        &admin(),
        dev,
        &added[2],
        Direction::Earlier,
    )
    .unwrap();
    assert_eq!(names(), ["Build", "Ship", "Check"]);
    assert!(
        steps::shift(
            &mut app.conn(),
            &admin(),
            dev,
            &added[0],
            Direction::Earlier
        )
        .is_err()
    );
    assert_eq!(names(), ["Build", "Ship", "Check"]);
}
