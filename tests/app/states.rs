//! The enums for states and the `CHECK`s on their columns agree, and a
//! value the enum does not know is an error when read, never a default.

use diesel::prelude::*;
use diesel::sql_types::Text;
use stagecoach::domain::states::{
    Cause, CheckKind, DecisionKind, DeploymentStatus, QueuePolicy, Role, StepKind, StepStatus,
    Trigger,
};

use crate::helpers::TestDb;

/// The values a column's `CHECK (col IN (...))` allows, sorted.
fn allowed(conn: &mut PgConnection, table: &str, column: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        definition: String,
    }
    let checks: Vec<Check> = diesel::sql_query(
        "SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c \
          WHERE c.conrelid = $1::regclass AND c.contype = 'c'",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .unwrap();
    let definition = checks
        .into_iter()
        .map(|c| c.definition)
        .find(|d| d.contains(&format!("({column} = ANY")))
        .unwrap_or_else(|| panic!("no CHECK on {table}.{column}"));
    let mut values: Vec<String> = definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

fn sorted(values: impl IntoIterator<Item = &'static str>) -> Vec<String> {
    let mut values: Vec<String> = values.into_iter().map(str::to_owned).collect();
    values.sort();
    values
}

#[test]
fn each_state_enum_holds_exactly_what_its_column_allows() {
    let db = TestDb::new();
    let mut conn = db.connect();
    assert_eq!(
        allowed(&mut conn, "deployments", "status"),
        sorted(DeploymentStatus::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "deployment_steps", "status"),
        sorted(StepStatus::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "environments", "trigger"),
        sorted(Trigger::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "environments", "queue_policy"),
        sorted(QueuePolicy::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "deployments", "cause"),
        sorted(Cause::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "approvals", "decision"),
        sorted(DecisionKind::ALL.iter().map(|s| s.as_str()))
    );
    assert_eq!(
        allowed(&mut conn, "grants", "role"),
        sorted(Role::ALL.iter().map(|s| s.as_str()))
    );
    for table in ["steps", "deployment_steps"] {
        assert_eq!(
            allowed(&mut conn, table, "kind"),
            sorted(StepKind::ALL.iter().map(|s| s.as_str())),
            "{table}.kind"
        );
    }
    assert_eq!(
        allowed(&mut conn, "checks", "kind"),
        sorted(CheckKind::ALL.iter().map(|s| s.as_str()))
    );
}

#[test]
fn a_state_round_trips_and_an_unknown_one_is_an_error() {
    let db = TestDb::new();
    let mut conn = db.connect();
    for &status in DeploymentStatus::ALL {
        let read: DeploymentStatus = diesel::select(status.into_sql::<Text>())
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(read, status);
    }
    let unknown = diesel::select(diesel::dsl::sql::<Text>("'paused'"))
        .get_result::<DeploymentStatus>(&mut conn)
        .unwrap_err();
    // diesel names the field and keeps the enum's own message beneath.
    let unknown = format!("{unknown:?}");
    assert!(
        unknown.contains("unknown DeploymentStatus") && unknown.contains("paused"),
        "{unknown}"
    );
    let from_json = serde_json::from_str::<StepStatus>("\"paused\"").unwrap_err();
    assert!(
        from_json.to_string().contains("unknown StepStatus"),
        "{from_json}"
    );
    assert_eq!(
        serde_json::to_string(&DeploymentStatus::AwaitingApproval).unwrap(),
        "\"awaiting_approval\""
    );
}
