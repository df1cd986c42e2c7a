//! A run's log: lines appended by the worker, read back by byte offset.

use super::*;
use crate::domain::ids::DeploymentId;

/// One line of a deployment's log.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = deployment_logs)]
pub struct LogLine {
    pub id: i64,
    pub step_position: Option<i32>,
    pub stream: String,
    pub at: DateTime<Utc>,
    pub line: String,
}

/// Appends lines (already masked and within the cap) in one insert.
pub fn append_log(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    lines: &[(Option<i32>, &'static str, String)],
) -> QueryResult<()> {
    let bytes = insert_log_lines(conn, deployment_id, lines)?;
    add_log_bytes(conn, deployment_id, bytes)
}

pub(super) fn add_log_bytes(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    bytes: i64,
) -> QueryResult<()> {
    if bytes > 0 {
        diesel::update(deployments::table.find(deployment_id))
            .set(deployments::log_bytes.eq(deployments::log_bytes + bytes))
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts the lines; returns the bytes they add to the log's size.
pub(super) fn insert_log_lines(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    lines: &[(Option<i32>, &'static str, String)],
) -> QueryResult<i64> {
    if lines.is_empty() {
        return Ok(0);
    }
    let bytes: i64 = lines.iter().map(|l| l.2.len() as i64 + 1).sum();
    let rows: Vec<_> = lines
        .iter()
        .map(|(step, stream, line)| {
            (
                deployment_logs::deployment_id.eq(deployment_id),
                deployment_logs::step_position.eq(*step),
                deployment_logs::stream.eq(*stream),
                deployment_logs::line.eq(line.as_str()),
            )
        })
        .collect();
    diesel::insert_into(deployment_logs::table)
        .values(rows)
        .execute(conn)?;
    Ok(bytes)
}

/// Lines after `after` (an id), oldest first, at most `limit`.
pub fn log_after(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<LogLine>> {
    deployment_logs::table
        .filter(deployment_logs::deployment_id.eq(deployment_id))
        .filter(deployment_logs::id.gt(after))
        .order(deployment_logs::id.asc())
        .limit(limit)
        .select(LogLine::as_select())
        .load(conn)
}
