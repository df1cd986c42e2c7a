//! The append-only audit trail. Every change of state records its event in
//! the same transaction as the change; the table refuses UPDATE, DELETE and
//! TRUNCATE by trigger.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::Value;

use super::keyset::Cursor;
use crate::db::schema::audit_events;
use crate::domain::ids::{ProjectId, UserId};
use crate::input::text::{escaped_line, escaped_lines};

/// Who acts, and from where. Also what the access rules are checked
/// against: `is_admin` holds every right.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub name: String,
    pub is_admin: bool,
    pub client_addr: Option<String>,
    /// The reach of the API token the actor used, when narrowed: every
    /// right they hold is cut to it (`access::ProjectAccess`).
    pub scope: Option<super::tokens::Scope>,
    /// The API token the actor acts with: recorded with each change, and
    /// the database refuses the change if the token was revoked (or its
    /// owner disabled) by the time it commits.
    pub token_id: Option<i64>,
}

impl Actor {
    /// The application itself (start-up, demo data, the worker).
    pub fn system() -> Self {
        Self {
            user_id: None,
            name: "system".to_owned(),
            is_admin: false,
            client_addr: None,
            scope: None,
            token_id: None,
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
        user_id: UserId,
        name: impl Into<String>,
        is_admin: bool,
        client_addr: Option<String>,
    ) -> Self {
        Self {
            user_id: Some(user_id),
            name: name.into(),
            is_admin,
            client_addr,
            scope: None,
            token_id: None,
        }
    }
}

/// What happened to which object.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: Option<String>,
    pub project_id: Option<ProjectId>,
    pub details: Value,
}

impl Event {
    pub fn new(action: &'static str, object_type: &'static str, object_id: impl ToString) -> Self {
        Self {
            action,
            object_type,
            object_id: Some(object_id.to_string()),
            project_id: None,
            details: Value::Object(serde_json::Map::default()),
        }
    }

    pub fn in_project(mut self, project_id: ProjectId) -> Self {
        self.project_id = Some(project_id);
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub project_id: Option<ProjectId>,
    pub details: Value,
    pub client_addr: Option<String>,
    /// The API token the change was made with, if it came through the API.
    pub token_id: Option<i64>,
}

/// Appends one event. Call inside the transaction of the change it records.
///
/// Names and ids may come from the network (a sign-in's username is
/// whatever was typed), so control characters and bidi overrides are
/// escaped before they are stored: the trail cannot be forged with line
/// breaks or shown reordered.
pub fn record(conn: &mut PgConnection, actor: &Actor, event: Event) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::actor_id.eq(actor.user_id),
            audit_events::actor_name.eq(escaped_line(&actor.name)),
            audit_events::action.eq(event.action),
            audit_events::object_type.eq(event.object_type),
            audit_events::object_id.eq(event.object_id.as_deref().map(escaped_line)),
            audit_events::project_id.eq(event.project_id),
            audit_events::details.eq(escaped_json(event.details)),
            audit_events::client_addr.eq(&actor.client_addr),
            audit_events::token_id.eq(actor.token_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every string in `value` with controls (but tabs and line breaks) and
/// bidi overrides escaped; keys too.
fn escaped_json(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(escaped_lines(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(escaped_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (escaped_line(&k).into_owned(), escaped_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The newest events first (used by tests now, by the audit pages later).
pub fn recent(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

/// Which events the audit log shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub project_id: Option<ProjectId>,
    /// Exact actor name (a username, "system", "worker …").
    pub actor: String,
    /// An action, or a prefix ending in `.` (e.g. `login.`).
    pub action: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset position: events strictly older than this (at, id).
    pub before: Option<Cursor>,
}

/// An action prefix (`deployment.`) covers several actions, and no one
/// plan serves every prefix from a single index range: walking the whole
/// log newest first reads most of it for a rare prefix, and reading the
/// range for a common one reads most of it to sort. So each action the
/// prefix covers (`audit_actions` is small: one row per action ever
/// recorded) gives its newest page through `audit_events_action_idx`, and
/// the page is the newest of those: at most a page per action.
const PREFIX_BEFORE: &str = "SELECT e.* FROM audit_actions a CROSS JOIN LATERAL (";

/// One page of events, newest first, and the position of the next page.
pub fn search(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    limit: i64,
) -> QueryResult<(Vec<AuditEvent>, Option<Cursor>)> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .into_boxed();
    if let Some(project_id) = filter.project_id {
        query = query.filter(audit_events::project_id.eq(project_id));
    }
    let actor = filter.actor.trim();
    if !actor.is_empty() {
        query = query.filter(audit_events::actor_name.eq(actor.to_owned()));
    }
    let action = filter.action.trim();
    let prefix = action.strip_suffix('.');
    if let Some(prefix) = prefix {
        // Each action the prefix covers is read through its own index range
        // (see PREFIX_BEFORE), and `a` is that action.
        let pattern = format!(
            "{}.%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query
            .filter(audit_events::action.eq(sql::<Text>("a.action")))
            .filter(sql::<Text>("a.action").like(pattern));
    } else if !action.is_empty() {
        query = query.filter(audit_events::action.eq(action.to_owned()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to));
    }
    if let Some(Cursor { created_at: at, id }) = filter.before {
        // `at <= cursor` starts the index scan at the cursor.
        query = query.filter(audit_events::at.le(at)).filter(
            audit_events::at
                .lt(at)
                .or(audit_events::at.eq(at).and(audit_events::id.lt(id))),
        );
    }
    let query = crate::db::limited(
        query.order((audit_events::at.desc(), audit_events::id.desc())),
        limit + 1,
    );
    let mut rows: Vec<AuditEvent> = if prefix.is_some() {
        crate::db::around(
            PREFIX_BEFORE,
            query,
            format!(") e ORDER BY e.at DESC, e.id DESC LIMIT {}", limit + 1),
        )
        .load(conn)?
    } else {
        query.load(conn)?
    };
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| Cursor {
            created_at: e.at,
            id: e.id,
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// The actions ever recorded, for the filter's choices: a small table the
/// database keeps with each insert, never a scan of the trail.
pub fn actions(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    crate::db::schema::audit_actions::table
        .select(crate::db::schema::audit_actions::action)
        .order(crate::db::schema::audit_actions::action.asc())
        .load(conn)
}

impl AuditEvent {
    /// The event as the audit page and CSV show it: rows stored before
    /// names were escaped on the way in are escaped on the way out.
    pub fn escaped(self) -> Self {
        let line = |s: String| escaped_line(&s).into_owned();
        Self {
            actor_name: line(self.actor_name),
            object_id: self.object_id.map(line),
            client_addr: self.client_addr.map(line),
            details: escaped_json(self.details),
            ..self
        }
    }

    /// Details as one line of `key=value`, for the page.
    pub fn details_text(&self) -> String {
        match &self.details {
            Value::Object(map) if map.is_empty() => String::new(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" · "),
            other => other.to_string(),
        }
    }
}

/// A CSV field, quoted, with a leading `=`, `+`, `-` or `@` neutralised so
/// spreadsheets do not run it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{csv_field, escaped_json};

    #[test]
    fn details_keep_line_breaks_but_lose_controls_and_overrides() {
        let details = json!({
            "name": "\u{202e}gnp.exe",
            "value": "a\nb\u{1b}",
            "list": ["\u{7}"],
            "n": 3,
            "k\u{0}": true,
        });
        assert_eq!(
            escaped_json(details),
            json!({
                "name": "\\u{202e}gnp.exe",
                "value": "a\nb\\u{1b}",
                "list": ["\\u{7}"],
                "n": 3,
                "k\\u{0}": true,
            })
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("a,b\nc"), "\"a,b\nc\"");
    }
}
