//! Hand-written SQL that PostgreSQL plans once per connection.
//!
//! diesel never caches a `sql_query` as a prepared statement: it cannot
//! know that the text is fixed. So every call is parsed and planned again,
//! and for the joins behind a page (the session with its header count,
//! what is live per environment) planning costs more than running: under
//! load it was most of the database's time (`bench/README.md`).
//!
//! [`prepared`] wraps a `sql_query` whose text is a constant and tells
//! diesel's statement cache it may keep it, keyed by that text and the bind
//! types. PostgreSQL then plans it at most a few times per connection and
//! settles on a generic plan when that is as good as a custom one (which is
//! why the hot queries write fixed values such as statuses as literals, so
//! a generic plan can still use the partial indexes made for them).
//!
//! Only for text that never varies per call: a text built from values
//! would fill the cache with one statement per value.

use std::borrow::Cow;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A raw query diesel may keep prepared (see the module's notes).
#[derive(Debug, Clone)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub struct Prepared<Q>(Q);

/// Marks `query` (a `sql_query` over constant text, with its binds) as
/// safe to keep prepared.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// `sql_query` marks itself unsafe to cache because its text could be
    /// anything; the caller of [`prepared`] vouches that it is constant.
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No type-level identity: the cache keys the statement by its SQL text.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}

/// `before`, then `query`, then `after`: a query built with diesel's DSL
/// (its filters, keyset and binds) used as a subquery inside hand-written
/// SQL, whose rows are read by name (`QueryableByName`). Both texts must
/// be constants (or one of a few, such as a page size written in), so the
/// whole stays prepared as `query` would be.
#[derive(Debug, Clone)]
#[must_use = "Queries are only executed when calling `load`, `get_result` or similar."]
pub struct Around<Q> {
    before: Cow<'static, str>,
    query: Q,
    after: Cow<'static, str>,
}

pub fn around<Q>(
    before: impl Into<Cow<'static, str>>,
    query: Q,
    after: impl Into<Cow<'static, str>>,
) -> Around<Q> {
    Around {
        before: before.into(),
        query,
        after: after.into(),
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Around<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql(&self.before);
        self.query.walk_ast(pass.reborrow())?;
        pass.push_sql(&self.after);
        Ok(())
    }

    /// The text around is constant, so the query inside decides: without
    /// this, a [`prepared`] `sql_query` inside would be walked for its
    /// cacheability and answer no.
    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        self.query.is_safe_to_cache_prepared(backend)
    }
}

impl<Q> QueryId for Around<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Around<Q> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<Q, Conn> RunQueryDsl<Conn> for Around<Q> {}
