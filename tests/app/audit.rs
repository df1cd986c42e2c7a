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
    assert!(stagecoach::crypto::password::verify(
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

/// An action prefix reads each action it covers through its own index
/// range: the page must still be the newest events of all of them, in
/// order, and page on through the cursor without gaps or repeats.
#[tokio::test]
async fn an_action_prefix_pages_through_every_action_it_covers_newest_first() {
    let app = spawn_app().await;
    let mut conn = app.conn();
    let actions = ["probe.a", "probe.b", "probe.c", "probe_x.a", "other.a"];
    for i in 0..30 {
        audit::record(
            &mut conn,
            &Actor::system(),
            Event::new(actions[i % actions.len()], "test", i),
        )
        .unwrap();
    }
    let mut page = |action: &str, before| {
        let filter = audit::AuditFilter {
            action: action.to_owned(),
            before,
            ..Default::default()
        };
        audit::search(&mut conn, &filter, 5).unwrap()
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let (rows, next) = page("probe.", before);
        seen.extend(rows.into_iter().map(|e| (e.action, e.object_id)));
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    let expected: Vec<(String, Option<String>)> = (0..30)
        .rev()
        .filter(|i| i % actions.len() < 3)
        .map(|i| (actions[i % actions.len()].to_owned(), Some(i.to_string())))
        .collect();
    assert_eq!(seen, expected);
    // `_` in a prefix is itself, not any character.
    assert_eq!(page("probe_x.", None).0.len(), 5);
    assert!(page("probe%.", None).0.is_empty());
    assert!(page("nothing.", None).0.is_empty());
}
