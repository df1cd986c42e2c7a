//! The append-only audit trail. Every change of state records its event in
//! the same transaction as the change; the table refuses UPDATE, DELETE and
//! TRUNCATE by trigger.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::audit_events;

/// Who acts, and from where. Also what the access rules are checked
/// against: `is_admin` holds every right.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
    pub is_admin: bool,
    pub client_addr: Option<String>,
}

impl Actor {
    /// The application itself (start-up, demo data, the worker).
    pub fn system() -> Self {
        Self {
            user_id: None,
            name: "system".to_owned(),
            is_admin: false,
            client_addr: None,
        }
    }

    /// A deployment worker, named by its id.
    pub fn worker(worker: &str) -> Self {
        Self {
            name: format!("worker {worker}"),
            ..Self::system()
        }
    }

    pub fn user(
        user_id: i64,
        name: impl Into<String>,
        is_admin: bool,
        client_addr: Option<String>,
    ) -> Self {
        Self {
            user_id: Some(user_id),
            name: name.into(),
            is_admin,
            client_addr,
        }
    }
}

/// What happened to which object.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: Option<String>,
    pub project_id: Option<i64>,
    pub details: Value,
}

impl Event {
    pub fn new(action: &'static str, object_type: &'static str, object_id: impl ToString) -> Self {
        Self {
            action,
            object_type,
            object_id: Some(object_id.to_string()),
            project_id: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn in_project(mut self, project_id: i64) -> Self {
        self.project_id = Some(project_id);
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub project_id: Option<i64>,
    pub details: Value,
    pub client_addr: Option<String>,
}

/// Appends one event. Call inside the transaction of the change it records.
pub fn record(conn: &mut PgConnection, actor: &Actor, event: Event) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::actor_id.eq(actor.user_id),
            audit_events::actor_name.eq(&actor.name),
            audit_events::action.eq(event.action),
            audit_events::object_type.eq(event.object_type),
            audit_events::object_id.eq(event.object_id),
            audit_events::project_id.eq(event.project_id),
            audit_events::details.eq(event.details),
            audit_events::client_addr.eq(&actor.client_addr),
        ))
        .execute(conn)?;
    Ok(())
}

/// The newest events first (used by tests now, by the audit pages later).
pub fn recent(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}
