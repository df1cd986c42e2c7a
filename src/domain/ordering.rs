//! Ordered lists (a pipeline's environments, an environment's steps):
//! which neighbour a moved row swaps positions with, and closing the gap a
//! removed row leaves.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use crate::domain::ids::{EnvironmentId, ProjectId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Earlier,
    Later,
}

impl Direction {
    /// The form's `direction` field: `earlier`, else later.
    pub fn from_form(value: &str) -> Self {
        if value == "earlier" {
            Self::Earlier
        } else {
            Self::Later
        }
    }
}

/// In `rows` (in order), the one `is_moved` picks and the neighbour it
/// swaps with going `direction` (`None` at that end); `None` when no row
/// is the moved one.
pub fn neighbours<T>(
    rows: &[T],
    is_moved: impl Fn(&T) -> bool,
    direction: Direction,
) -> Option<(&T, Option<&T>)> {
    let index = rows.iter().position(is_moved)?;
    let other = match direction {
        Direction::Earlier => index.checked_sub(1).map(|i| &rows[i]),
        Direction::Later => rows.get(index + 1),
    };
    Some((&rows[index], other))
}

/// An ordered list, by its owner.
#[derive(Debug, Clone, Copy)]
pub enum OrderedList {
    /// A project's environments.
    Pipeline(ProjectId),
    /// An environment's steps.
    Steps(EnvironmentId),
}

/// After the row at `position` was removed from `list`, moves the rows
/// after it up one, so positions stay dense. The unique position is
/// checked at commit, not row by row, so the shift may pass through
/// duplicates; call inside the removal's transaction.
pub fn close_gap(conn: &mut PgConnection, list: OrderedList, position: i32) -> QueryResult<()> {
    let (shift, owner) = match list {
        OrderedList::Pipeline(project) => (
            "UPDATE environments SET position = position - 1 WHERE project_id = $1 AND position > $2",
            project.0,
        ),
        OrderedList::Steps(environment) => (
            "UPDATE steps SET position = position - 1 WHERE environment_id = $1 AND position > $2",
            environment.0,
        ),
    };
    defer_positions(conn, list)?;
    diesel::sql_query(shift)
        .bind::<BigInt, _>(owner)
        .bind::<Integer, _>(position)
        .execute(conn)?;
    Ok(())
}

/// Swaps the positions of two rows of `list`, each given as (id, position);
/// call inside the move's transaction, with the list's rows locked.
pub fn swap(
    conn: &mut PgConnection,
    list: OrderedList,
    first: (i64, i32),
    second: (i64, i32),
) -> QueryResult<()> {
    let set = match list {
        OrderedList::Pipeline(_) => "UPDATE environments SET position = $2 WHERE id = $1",
        OrderedList::Steps(_) => "UPDATE steps SET position = $2 WHERE id = $1",
    };
    defer_positions(conn, list)?;
    for (id, position) in [(first.0, second.1), (second.0, first.1)] {
        diesel::sql_query(set)
            .bind::<BigInt, _>(id)
            .bind::<Integer, _>(position)
            .execute(conn)?;
    }
    Ok(())
}

/// Checks the list's unique position at commit rather than row by row, so
/// a move may pass through a duplicate on the way.
fn defer_positions(conn: &mut PgConnection, list: OrderedList) -> QueryResult<()> {
    diesel::sql_query(match list {
        OrderedList::Pipeline(_) => "SET CONSTRAINTS environments_position_key DEFERRED",
        OrderedList::Steps(_) => "SET CONSTRAINTS steps_position_key DEFERRED",
    })
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neighbour_is_the_next_one_in_the_direction_and_none_at_an_end() {
        let rows = [10, 20, 30];
        assert_eq!(
            neighbours(&rows, |r| *r == 20, Direction::Earlier),
            Some((&20, Some(&10)))
        );
        assert_eq!(
            neighbours(&rows, |r| *r == 20, Direction::Later),
            Some((&20, Some(&30)))
        );
        assert_eq!(
            neighbours(&rows, |r| *r == 10, Direction::Earlier),
            Some((&10, None))
        );
        assert_eq!(
            neighbours(&rows, |r| *r == 30, Direction::Later),
            Some((&30, None))
        );
        assert_eq!(neighbours(&rows, |r| *r == 40, Direction::Later), None);
        assert_eq!(Direction::from_form("earlier"), Direction::Earlier);
        assert_eq!(Direction::from_form("later"), Direction::Later);
    }
}
