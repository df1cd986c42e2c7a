//! Fixed values written into a query's text instead of bound.
//!
//! diesel binds every value (`status = $1`). For a prepared statement
//! PostgreSQL then either plans again on every call, to see the value, or
//! settles on a generic plan that cannot use a partial index such as
//! `deployments_succeeded_idx (…) WHERE status = 'succeeded'`, since it
//! cannot prove `$1` is `'succeeded'`. Written as a literal, the status is
//! part of the statement: one generic plan serves every call and still
//! uses the partial index, so a hot page's queries are planned once per
//! connection rather than once per request (`bench/README.md`).
//!
//! Each constant is its own type, so diesel's statement cache, which keys
//! typed queries by their type, tells `status = 'queued'` from
//! `status = 'running'`.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Text;

/// A text value known when the program is built.
pub trait TextConstant: 'static {
    const VALUE: &'static str;
}

/// The SQL literal of a [`TextConstant`]: `deployments::status.eq(SUCCEEDED)`.
#[derive(Debug)]
pub struct Const<C>(PhantomData<C>);

impl<C> Const<C> {
    pub const fn new() -> Self {
        Const(PhantomData)
    }
}

impl<C> Default for Const<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> Clone for Const<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Const<C> {}

impl<C: TextConstant> Expression for Const<C> {
    type SqlType = Text;
}

impl<C: TextConstant> QueryFragment<Pg> for Const<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // VALUE has no quote (checked where it is declared), so quoting
        // it is the whole of the escaping.
        out.push_sql("'");
        out.push_sql(C::VALUE);
        out.push_sql("'");
        Ok(())
    }
}

impl<C: TextConstant> QueryId for Const<C> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: TextConstant, QS> AppearsOnTable<QS> for Const<C> {}

impl<C: TextConstant, QS> SelectableExpression<QS> for Const<C> {}

impl<C: TextConstant, GB> ValidGrouping<GB> for Const<C> {
    type IsAggregate = is_aggregate::Never;
}

/// Whether `value` can be written between single quotes as it is.
pub const fn quotable(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' || bytes[i] == b'\\' || bytes[i] == 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// Declares text constants for queries: for each `NAME: Type = "value"`, a
/// marker type and a `NAME` constant usable wherever diesel takes a text
/// expression. A value with a quote does not compile.
#[macro_export]
macro_rules! text_constants {
    ($($(#[$meta:meta])* $name:ident: $marker:ident = $value:literal;)+) => {
        $(
            #[derive(Debug, Clone, Copy)]
            pub struct $marker;
            impl $crate::db::constant::TextConstant for $marker {
                const VALUE: &'static str = $value;
            }
            const _: () = assert!($crate::db::constant::quotable($value));
            $(#[$meta])*
            pub const $name: $crate::db::constant::Const<$marker> = $crate::db::constant::Const::new();
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_that_need_no_escaping_are_quotable() {
        assert!(quotable("awaiting_approval"));
        assert!(!quotable("it's"));
        assert!(!quotable("a\\b"));
        assert!(!quotable("nul\0"));
    }
}
