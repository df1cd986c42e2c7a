//! A run's log: lines appended by the worker, read back by byte offset.

use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};

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
    let steps: Vec<Option<i32>> = lines.iter().map(|l| l.0).collect();
    let streams: Vec<&str> = lines.iter().map(|l| l.1).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.2.as_str()).collect();
    // Each line's end in the log's text: the size before these lines (the
    // caller adds them to `log_bytes` after, in its transaction) plus
    // theirs, counted as `bytes` counts them.
    crate::db::prepared(
        diesel::sql_query(
            "INSERT INTO deployment_logs (deployment_id, step_position, stream, line, end_offset) \
             SELECT $1, x.step, x.stream, x.line, \
                    (SELECT log_bytes FROM deployments WHERE id = $1) \
                    + sum(octet_length(x.line) + 1) OVER (ORDER BY x.n) \
               FROM unnest($2::int4[], $3::text[], $4::text[]) WITH ORDINALITY AS x(step, stream, line, n) \
              ORDER BY x.n",
        )
        .bind::<BigInt, _>(deployment_id)
        .bind::<Array<Nullable<Integer>>, _>(steps)
        .bind::<Array<Text>, _>(streams)
        .bind::<Array<Text>, _>(texts),
    )
    .execute(conn)?;
    Ok(bytes)
}

/// A piece of the log's text from a byte offset: what a client following
/// the log by offset reads next.
#[derive(Debug, Clone)]
pub struct LogPiece {
    pub text: String,
    /// Where the piece ends: the offset to ask for next.
    pub next_offset: i64,
    /// More lines were there than one piece carries.
    pub more: bool,
}

/// The log's text from byte `offset`, whole lines up to about `max_bytes`
/// (at least one line when there is one). One indexed read.
pub fn log_from(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    offset: i64,
    max_bytes: i64,
) -> QueryResult<LogPiece> {
    const LINES: usize = 1000;
    let mut text = String::new();
    let mut next_offset = offset.max(0);
    let rows: Vec<(String, i64)> = crate::db::limited(
        deployment_logs::table
            .filter(deployment_logs::deployment_id.eq(deployment_id))
            .filter(deployment_logs::end_offset.gt(offset))
            .order(deployment_logs::end_offset.asc())
            .select((deployment_logs::line, deployment_logs::end_offset)),
        LINES as i64,
    )
    .load(conn)?;
    let mut more = rows.len() == LINES;
    for (line, end) in rows {
        let start = end - line.len() as i64 - 1;
        let mut piece = line;
        piece.push('\n');
        if start < offset {
            // The offset falls inside this line: from there on, at a
            // character boundary.
            let mut skip = usize::try_from(offset - start)
                .unwrap_or(0)
                .min(piece.len());
            while !piece.is_char_boundary(skip) {
                skip += 1;
            }
            piece.drain(..skip);
        }
        if !text.is_empty() && (text.len() + piece.len()) as i64 > max_bytes {
            more = true;
            break;
        }
        text.push_str(&piece);
        next_offset = end;
    }
    Ok(LogPiece {
        text,
        next_offset,
        more,
    })
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
