//! The database role the app runs as (`docs/app-role.sql`, run here as
//! written): the app starts on an up-to-date schema without migrating,
//! reads and writes rows, runs deployments, and can never truncate, drop,
//! alter or create anything.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use stagecoach::domain::{projects, releases};
use stagecoach::startup::Application;

use crate::helpers::fixtures::admin;
use crate::helpers::{TestDb, on_server, test_settings};

#[tokio::test]
async fn the_app_role_works_with_rows_and_cannot_change_the_schema() {
    let db = TestDb::new();
    let role = format!(
        "stagecoach_app_{}",
        stagecoach::crypto::random::token_hex(4)
    );
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/app-role.sql"))
        .unwrap()
        .replace("stagecoach_app", &role);
    let mut owner = db.connect();
    owner
        .batch_execute(&script)
        .expect("the documented script runs");
    owner
        .batch_execute(&format!("ALTER ROLE {role} PASSWORD 'app-role-password'"))
        .unwrap();
    let url = db.url_as(&role, "app-role-password");

    let outcome = async {
        // The app starts as the role: the schema is up to date, so it does
        // not migrate, and it creates the first administrator.
        let app = Application::build(test_settings(&url))
            .await
            .expect("starting as the app role");
        let port = app.port();
        tokio::spawn(app.run_until_stopped());
        let health = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);

        // Rows: a project and a release, whose deployment the worker runs.
        let mut app_conn = PgConnection::establish(&url).unwrap();
        let project = projects::create(
            &mut app_conn,
            &admin(),
            &projects::ProjectInput {
                name: "Shop".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let release = releases::create(
            &mut app_conn,
            &admin(),
            &project,
            &releases::ReleaseInput {
                version: "1.0.0".into(),
                title: "First".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let started = Instant::now();
        loop {
            let status: String = stagecoach::db::schema::deployments::table
                .filter(stagecoach::db::schema::deployments::release_id.eq(release.id))
                .select(stagecoach::db::schema::deployments::status)
                .first(&mut app_conn)
                .unwrap();
            if status == "succeeded" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the deployment is {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The schema: none of it.
        for (statement, refusal) in [
            ("TRUNCATE releases CASCADE", "permission denied"),
            ("DROP TABLE audit_events", "must be owner"),
            ("ALTER TABLE releases ADD COLUMN x INTEGER", "must be owner"),
            (
                "CREATE TABLE scratch (id INTEGER)",
                "permission denied for schema public",
            ),
            (
                "DROP TRIGGER deployments_guard_origin ON deployments",
                "must be owner",
            ),
            (
                "DELETE FROM __diesel_schema_migrations",
                "permission denied",
            ),
            (
                "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
                "permission denied for schema public",
            ),
        ] {
            let err = app_conn
                .batch_execute(statement)
                .expect_err(statement)
                .to_string();
            assert!(err.contains(refusal), "{statement}: {err}");
        }
        assert_eq!(
            diesel::sql_query("SELECT 1 FROM audit_events LIMIT 1")
                .execute(&mut app_conn)
                .unwrap(),
            1,
            "the audit trail is still there"
        );
    };
    outcome.await;
    drop(owner);
    // The role's privileges go with the database; then the role itself.
    let mut owner = db.connect();
    let _ = owner.batch_execute(&format!("DROP OWNED BY {role}"));
    drop(owner);
    drop(db);
    on_server(&format!("DROP ROLE IF EXISTS {role}")).unwrap();
}
