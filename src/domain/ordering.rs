//! Moving a row of an ordered list (a pipeline's environments, an
//! environment's steps) one place: which neighbour it swaps positions with.

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
