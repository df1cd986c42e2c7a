//! A page's row limit written into the query's text.
//!
//! diesel binds `.limit(n)` as `LIMIT $2`. PostgreSQL's generic plan for a
//! prepared statement cannot see that value and assumes a tenth of the
//! table is wanted, so for `… ORDER BY created_at DESC LIMIT $2` over a
//! large history the generic plan looks far dearer than a custom one and
//! the statement is planned again on every call. With the limit as a
//! literal the generic plan is the right one, and a page's list query is
//! planned once per connection (`bench/README.md`).
//!
//! The text differs per limit, so the statement is cached by its text;
//! limits are a handful of constants (page sizes), never user input
//! beyond a clamp.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `query` with ` LIMIT n` appended as a literal (see the module's notes).
#[derive(Debug, Clone)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub struct LiteralLimit<Q> {
    query: Q,
    limit: String,
}

/// At most `limit` rows of `query`, which must have no limit or offset of
/// its own.
pub fn limited<Q>(query: Q, limit: i64) -> LiteralLimit<Q> {
    LiteralLimit {
        query,
        limit: format!(" LIMIT {}", limit.max(0)),
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for LiteralLimit<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass.reborrow())?;
        pass.push_sql(&self.limit);
        Ok(())
    }
}

/// Keyed by text: the limit is not part of the type.
impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for LiteralLimit<Q> {}
