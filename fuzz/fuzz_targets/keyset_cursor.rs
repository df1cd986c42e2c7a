//! Keyset cursors (`before=` of a list's next page): any text decodes or
//! is `None` without panicking; a decoded cursor re-encodes to text that
//! decodes to it; a cursor the lists hand out (a row's `created_at`, at or
//! after 1970, and its id) round-trips through its text.

#![no_main]

use arbitrary::Arbitrary;
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use stagecoach::fuzzing::Cursor;

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Text(&'a str),
    Parts { micros: i64, id: i64 },
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(text) => {
        if let Some(cursor) = Cursor::decode(text) {
            let encoded = cursor.encode();
            assert_eq!(
                Cursor::decode(&encoded),
                Some(cursor),
                "{text:?} → {encoded:?}"
            );
            assert!(!encoded.chars().any(|c| c.is_control() || c.is_whitespace()));
        }
    }
    Input::Parts { micros, id } => {
        let Some(created_at) = DateTime::from_timestamp_micros(micros) else {
            return;
        };
        let cursor = Cursor { created_at, id };
        let encoded = cursor.encode();
        let decoded = Cursor::decode(&encoded);
        if micros >= 0 {
            assert_eq!(decoded, Some(cursor), "{encoded:?}");
        } else {
            // Before 1970 (no row is): the leading minus reads as the
            // separator, so the cursor is refused, never misread.
            assert_eq!(decoded, None, "{encoded:?}");
        }
    }
});
