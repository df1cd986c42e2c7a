//! The release list's address, `/projects/{slug}/releases?q=…&env=…&before=…`:
//! the request check (NUL is a 400), the query read as the handler's
//! `ListQuery` reads it (its own extractor), the search's `ILIKE` pattern
//! (checked against a LIKE matcher: it finds the text as typed and
//! nothing a wildcard would add), the cursor decoded, and the next page's
//! link written back as the handler writes it. Nothing panics;
//! a query that passes the check carries no NUL to the database (where a
//! bound text holding NUL is an error, a 500); the next page's link passes
//! the check too and reads back as the same search, environment and cursor.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::fuzzing::{self, Cursor};

/// `text LIKE pattern` with `\` as the escape character, as PostgreSQL
/// matches it (case-sensitively; `ILIKE` folds case first): the oracle
/// for the search's escaping.
fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| like(&text[skip..], rest)),
        Some(('_', rest)) => !text.is_empty() && like(&text[1..], rest),
        Some(('\\', rest)) => match rest.split_first() {
            Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
            None => false,
        },
        Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
    }
}

fuzz_target!(|query: &str| {
    if query.contains('#') {
        return; // a fragment stays in the browser: no request carries one
    }
    let address = format!("/projects/web/releases?{query}");
    let Some(check) = fuzzing::address_problem(&address) else {
        return; // not a request line: never reaches the app
    };
    let Some((q, env, before)) = fuzzing::release_list_query(query) else {
        return; // the query extractor's 400
    };
    if let Err(message) = &check {
        assert!(message.contains("NUL"), "{message}");
        return;
    }
    let before = before.as_deref().and_then(Cursor::decode);
    for value in [&q, &env] {
        assert!(!value.contains('\0'), "{query:?} passed the check with NUL");
    }
    let search = q.trim();
    assert!(!search.contains('\0'));
    // The pattern finds the search as typed, and only that: `%`, `_` and
    // `\` in it are taken literally. Tried against the search itself
    // inside other text, and against the search with one of those
    // characters changed, which a wildcard would still match.
    if search.chars().count() <= 24 {
        let pattern: Vec<char> = fuzzing::search_pattern(search).chars().collect();
        let needle: Vec<char> = search.chars().collect();
        let around: Vec<char> = format!("x{search}y").chars().collect();
        assert!(like(&around, &pattern), "{search:?} does not find itself");
        for (i, c) in needle.iter().enumerate() {
            if matches!(c, '%' | '_' | '\\') {
                let mut other = needle.clone();
                other[i] = if *c == 'z' { 'w' } else { 'z' };
                assert!(!like(&other, &pattern), "{search:?} matched {other:?}");
            }
        }
    }
    if let Some(cursor) = before {
        let link = serde_urlencoded::to_string([
            ("q", q.as_str()),
            ("env", env.as_str()),
            ("before", &cursor.encode()),
        ])
        .expect("text pairs encode");
        let next = format!("/projects/web/releases?{link}");
        assert_eq!(
            fuzzing::address_problem(&next),
            Some(Ok(())),
            "the next page's link {next:?} is refused"
        );
        let (back_q, back_env, back_before) =
            fuzzing::release_list_query(&link).expect("the link reads back");
        assert_eq!(back_q, q);
        assert_eq!(back_env, env);
        assert_eq!(back_before.as_deref().and_then(Cursor::decode), Some(cursor));
    }
});
