//! Keyset pagination: a newest-first list (releases, an environment's
//! history, the audit log) goes on from the last row shown, by its time and
//! id, so a page deep in the history costs what the first one does. The
//! one cursor all of them use, and its form in an address (`before=`).

use chrono::{DateTime, Utc};

/// A place in a newest-first list: the time (`created_at`, an audit
/// event's `at`) and id of the last row shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    /// `{microseconds}-{id}`, as the `before=` of the next page's address.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.created_at.timestamp_micros(), self.id)
    }

    /// The cursor an address carried; `None` for anything else.
    pub fn decode(value: &str) -> Option<Self> {
        let (micros, id) = value.split_once('-')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("nonsense"), None);
        assert_eq!(Cursor::decode("1-x"), None);
    }
}
