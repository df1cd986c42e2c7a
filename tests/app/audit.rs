use diesel::RunQueryDsl;
use stagecoach::domain::audit::{self, Actor, Event};
use stagecoach::domain::bootstrap::{AdminBootstrap, ensure_admin};

use crate::helpers::{TestDb, spawn_app};

#[tokio::test]
async fn the_audit_table_refuses_update_delete_and_truncate() {
    let app = spawn_app().await;
    audit::record(
        &mut app.conn(),
        &Actor::system(),
        Event::new("test.event", "test", 1),
    )
    .unwrap();
    for statement in [
        "UPDATE audit_events SET action = 'forged'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = diesel::sql_query(statement)
            .execute(&mut app.conn())
            .unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'test.event'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'forged'"),
        0
    );
}

#[tokio::test]
async fn logout_is_audited() {
    let app = spawn_app().await;
    app.login_admin().await;
    app.post_form("/logout", "/", &[]).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'logout' AND actor_name = 'admin'"), 1);
}

#[test]
fn the_first_start_creates_admin_once_and_never_with_a_known_password() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let generated = match ensure_admin(&mut conn, None).unwrap() {
        AdminBootstrap::CreatedWithPassword(password) => password,
        other => panic!("expected a generated password, got {other:?}"),
    };
    assert!(generated.len() >= 12);
    assert_eq!(
        ensure_admin(&mut conn, Some("another-password")).unwrap(),
        AdminBootstrap::Existing
    );
    let admin = stagecoach::domain::users::find_by_username(&mut conn, "admin")
        .unwrap()
        .unwrap();
    assert!(admin.is_admin);
    assert!(stagecoach::auth::password::verify(
        &generated,
        &admin.password_hash
    ));
    assert!(admin.password_hash.starts_with("$argon2id$"));
}

#[test]
fn a_configured_admin_password_must_meet_the_policy() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let err = ensure_admin(&mut conn, Some("short")).unwrap_err();
    assert!(
        err.to_string().contains("STAGECOACH_ADMIN_PASSWORD"),
        "{err}"
    );
    assert_eq!(stagecoach::domain::users::count(&mut conn).unwrap(), 0);
}
