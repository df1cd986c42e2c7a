//! The small validators of typed text: versions and version labels, slugs
//! (and slugs made from names), URLs, names and multi-line texts with the
//! escaping that quotes them, dates, idempotency keys, weekdays, the check
//! and step forms, and a check URL's `${NAME}` variables. Nothing panics,
//! and each accepts exactly what its rule says.

#![no_main]

use arbitrary::Arbitrary;
use chrono::Datelike;
use libfuzzer_sys::fuzz_target;
use stagecoach::fuzzing::{self as f, CheckInput, FieldErrors, StepInput};

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Version(&'a str),
    Slug(&'a str),
    Url(&'a str),
    Text(&'a str, u8),
    Date(&'a str),
    Key(&'a str),
    Days(Vec<&'a str>),
    Check([&'a str; 8]),
    Step([&'a str; 5]),
    Placeholders(&'a str, Vec<(&'a str, &'a str)>),
}

fn only_fields(errors: &FieldErrors, allowed: &[&str]) {
    for (field, message) in errors.iter() {
        assert!(
            allowed.contains(&field),
            "refusal on unknown field {field:?}"
        );
        assert!(!message.is_empty());
    }
}

/// `${NAME}` replaced by NAME's last value, left to right, in one pass.
fn one_pass(url: &str, values: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("placeholders read it");
        let name = &after[..end];
        let value = values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .expect("a value");
        out.push_str(&rest[..start]);
        out.push_str(&value.1);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn bad_in_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Version(v) => {
        let rule = !v.is_empty()
            && v.chars().count() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
        assert_eq!(f::version_problem(v).is_none(), rule, "{v:?}");
    }
    Input::Slug(name) => {
        let rule = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert_eq!(f::slug_problem(name).is_none(), rule, "{name:?}");
        let slug = f::slugify(name);
        assert!(
            slug.is_empty() || f::slug_problem(&slug).is_none(),
            "{name:?} → {slug:?}"
        );
        // "Staging EU" → "staging-eu": dashes only between words.
        assert!(
            !slug.ends_with('-') && !slug.contains("--"),
            "{name:?} → {slug:?}"
        );
        assert_eq!(f::slugify(&slug), slug, "slugify twice");
    }
    Input::Url(url) => {
        if f::url_problem(url).is_none() && !url.is_empty() {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            assert!(
                rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')),
                "{url:?}"
            );
            assert!(
                !url.chars().any(|c| c.is_whitespace() || c.is_control()),
                "{url:?}"
            );
            assert!(url.chars().count() <= 2000);
        }
    }
    Input::Text(text, max) => {
        let max = usize::from(max);
        if f::name_problem(text, 1, max, "a name").is_none() {
            assert!(!text.chars().any(bad_in_line), "{text:?}");
            assert!((1..=max).contains(&text.chars().count()));
        }
        assert_eq!(
            f::line_problem(text).is_none(),
            !text.chars().any(bad_in_line)
        );
        if f::text_problem(text, max).is_none() {
            assert!(text.chars().count() <= max);
            assert!(f::lines_problem(text).is_none());
        }
        let line = f::escaped_line(text);
        assert!(!line.chars().any(bad_in_line), "{line:?}");
        assert_eq!(
            f::escaped_line(&line),
            line,
            "escaping twice changes nothing"
        );
        let lines = f::escaped_lines(text);
        assert!(f::lines_problem(&lines).is_none(), "{lines:?}");
        assert_eq!(f::escaped_lines(&lines), lines);
        let quoted = f::quoted(text, max);
        assert!(quoted.chars().count() <= max + 2);
        assert!(f::line_problem(&quoted).is_none());
    }
    Input::Date(value) => {
        if let Ok(Some(d)) = f::date(value) {
            assert!((1970..=9999).contains(&d.year()));
            assert_eq!(f::date(&d.format("%Y-%m-%d").to_string()), Ok(Some(d)));
        }
        if let Ok(Some(t)) = f::datetime_utc(value) {
            assert!((1970..=9999).contains(&t.year()));
            let shown = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            assert_eq!(f::datetime_utc(&shown), Ok(Some(t)));
        }
    }
    Input::Key(key) => {
        let rule = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        assert_eq!(f::idempotency_key_problem(key).is_none(), rule, "{key:?}");
    }
    Input::Days(days) => {
        let days: Vec<String> = days.into_iter().map(str::to_owned).collect();
        let mut errors = FieldErrors::new();
        let parsed = f::parse_days(&days, "window_days", &mut errors);
        only_fields(&errors, &["window_days"]);
        assert!(parsed.iter().all(|d| (1..=7).contains(d)));
        assert!(parsed.windows(2).all(|w| w[0] < w[1]));
    }
    Input::Check([kind, name, url, status, text, script, every, within]) => {
        let input = CheckInput {
            kind: kind.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
            expect_status: status.to_owned(),
            expect_text: text.to_owned(),
            script: script.to_owned(),
            interval_seconds: every.to_owned(),
            within_seconds: within.to_owned(),
        };
        if let Err(errors) = f::check_form(&input) {
            only_fields(
                &errors,
                &[
                    "kind",
                    "name",
                    "url",
                    "expect_status",
                    "expect_text",
                    "script",
                    "interval_seconds",
                    "within_seconds",
                ],
            );
        }
    }
    Input::Step([kind, name, script, url, timeout]) => {
        let input = StepInput {
            kind: kind.to_owned(),
            name: name.to_owned(),
            script: script.to_owned(),
            url: url.to_owned(),
            timeout_seconds: timeout.to_owned(),
        };
        if let Err(errors) = f::step_form(&input) {
            only_fields(
                &errors,
                &["kind", "name", "script", "url", "timeout_seconds"],
            );
        }
    }
    Input::Placeholders(url, values) => {
        let values: Vec<(String, String)> = values
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        match f::placeholders(url) {
            Ok(names) => {
                for name in &names {
                    assert!(url.contains(&format!("${{{name}}}")));
                }
                let given = names
                    .iter()
                    .all(|n| values.iter().any(|(name, _)| name == n));
                match f::expand(url, &values) {
                    Ok(filled) => {
                        assert!(given);
                        // Filled in one pass, whatever the values hold
                        // (a value holding `${OTHER}` used to be filled
                        // again: found here, fixed in `expand`).
                        assert_eq!(filled, one_pass(url, &values), "{url:?}");
                        let plain = values
                            .iter()
                            .all(|(_, v)| !v.is_empty() && !v.contains(['$', '{', '}']));
                        if plain {
                            assert!(!filled.contains("${"), "{url:?} → {filled:?}");
                        }
                    }
                    Err(missing) => {
                        assert!(!given);
                        assert!(!missing.is_empty());
                    }
                }
            }
            Err(why) => {
                assert!(!why.is_empty());
                assert!(f::expand(url, &values).is_err());
            }
        }
    }
});
