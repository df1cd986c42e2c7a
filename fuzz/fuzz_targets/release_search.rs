//! The release list's address, `/projects/{slug}/releases?q=…&env=…&before=…`:
//! the request check (NUL is a 400), the query read as the handler's
//! `ListQuery` reads it (serde_urlencoded), the cursor decoded, and the
//! next page's link written back as the handler writes it. Nothing panics;
//! a query that passes the check carries no NUL to the database (where a
//! bound text holding NUL is an error, a 500); the next page's link passes
//! the check too and reads back as the same search, environment and cursor.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use stagecoach::fuzzing::{self, Cursor};

/// `routes::releases::ListQuery`, field for field.
#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    env: String,
    before: Option<String>,
}

fuzz_target!(|query: &str| {
    if query.contains('#') {
        return; // a fragment stays in the browser: no request carries one
    }
    let address = format!("/projects/web/releases?{query}");
    let Some(check) = fuzzing::address_problem(&address) else {
        return; // not a request line: never reaches the app
    };
    let Ok(list) = serde_urlencoded::from_str::<ListQuery>(query) else {
        return; // the query extractor's 400
    };
    if let Err(message) = &check {
        assert!(message.contains("NUL"), "{message}");
        return;
    }
    let before = list.before.as_deref().and_then(Cursor::decode);
    for value in [&list.q, &list.env] {
        assert!(!value.contains('\0'), "{query:?} passed the check with NUL");
    }
    let search = list.q.trim();
    assert!(!search.contains('\0'));
    if let Some(cursor) = before {
        let link = serde_urlencoded::to_string([
            ("q", list.q.as_str()),
            ("env", list.env.as_str()),
            ("before", &cursor.encode()),
        ])
        .expect("text pairs encode");
        let next = format!("/projects/web/releases?{link}");
        assert_eq!(
            fuzzing::address_problem(&next),
            Some(Ok(())),
            "the next page's link {next:?} is refused"
        );
        let back: ListQuery = serde_urlencoded::from_str(&link).expect("the link reads back");
        assert_eq!(back.q, list.q);
        assert_eq!(back.env, list.env);
        assert_eq!(
            back.before.as_deref().and_then(Cursor::decode),
            Some(cursor)
        );
    }
});
