//! Property tests (issue 14): every validator and parser of user text, fed
//! anything — control characters, bidi overrides, 4-byte and combining
//! characters, huge and empty values. Nothing panics; a refusal names a
//! field the form has; what is accepted is what the rules describe.

use proptest::prelude::*;

use crate::domain::checks::{self, CheckInput};
use crate::domain::keyset::Cursor;
use crate::domain::releases::{self, ArtifactInput, ReleaseInput};
use crate::domain::steps::{self, StepInput};
use crate::domain::validation::FieldErrors;
use crate::domain::{idempotency, validation, weekdays};
use crate::input::{dates, text};

/// Any text, weighted towards what breaks parsers: controls, NUL, bidi
/// overrides, combining marks, emoji, separators, and long runs.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        Just("\0".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("\u{2066}".to_owned()),
        Just("e\u{301}".to_owned()),
        Just("🚀".to_owned()),
        Just("\r\n".to_owned()),
        Just("${".to_owned()),
        Just("}".to_owned()),
        Just("=".to_owned()),
        Just(",".to_owned()),
        Just("-".to_owned()),
        Just("'; DROP TABLE releases; --".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        "[ -~]{0,12}",
        "[0-9]{1,25}",
    ];
    prop_oneof![
        4 => prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat()),
        1 => (any::<char>(), 60usize..3000).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

/// The fields a form's errors may name: each refusal is beside a field.
fn only_fields(errors: &FieldErrors, allowed: &[&str]) -> Result<(), TestCaseError> {
    for (field, message) in errors.iter() {
        let base = field.split(['[', '.']).next().unwrap_or(field);
        prop_assert!(
            allowed.contains(&field) || allowed.contains(&base),
            "refusal on unknown field {field:?}: {message}"
        );
        prop_assert!(!message.is_empty(), "empty message on {field}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn versions_and_labels_are_judged_without_panicking(value in nasty()) {
        let accepted = validation::version_problem(&value).is_none();
        let rule = !value.is_empty()
            && value.chars().count() <= 64
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
        prop_assert_eq!(accepted, rule);
    }

    #[test]
    fn a_slug_made_from_any_name_is_a_valid_slug_or_empty(name in nasty()) {
        let slug = validation::slugify(&name);
        prop_assert!(slug.is_empty() || validation::slug_problem(&slug).is_none(), "{:?}", slug);
        let _ = validation::slug_problem(&name);
    }

    #[test]
    fn urls_names_and_texts_are_judged_without_panicking(value in nasty()) {
        if validation::url_problem(&value).is_none() && !value.is_empty() {
            prop_assert!(value.starts_with("http://") || value.starts_with("https://"));
            prop_assert!(!value.chars().any(char::is_whitespace));
        }
        if validation::name_problem(&value, 1, 100, "a name").is_none() {
            prop_assert!(!value.contains('\0'));
            prop_assert!(!value.chars().any(text::is_bidi_control));
        }
        let _ = validation::text_problem(&value, 10_000);
        let _ = text::lines_problem(&value);
        let shown = text::escaped_line(&value);
        prop_assert!(!shown.chars().any(char::is_control), "{:?}", shown);
    }

    #[test]
    fn a_release_form_refuses_only_on_its_own_fields(
        version in nasty(), title in nasty(), description in nasty(),
        artifacts in prop::collection::vec((nasty(), nasty(), nasty(), nasty()), 0..25),
    ) {
        let input = ReleaseInput {
            version,
            title,
            description,
            artifacts: artifacts
                .into_iter()
                .map(|(name, reference, url, sha256)| ArtifactInput { name, reference, url, sha256 })
                .collect(),
        };
        let errors = releases::validate(&input);
        only_fields(&errors, &["version", "title", "description", "artifacts"])?;
    }

    #[test]
    fn a_step_form_refuses_only_on_its_own_fields(
        kind in prop_oneof![Just("script".to_owned()), Just("http".to_owned()), Just("manual".to_owned()), nasty()],
        name in nasty(), script in nasty(), url in nasty(), timeout in nasty(),
    ) {
        let input = StepInput { kind, name, script, url, timeout_seconds: timeout };
        if let Err(errors) = steps::validate(&input) {
            only_fields(&errors, &["kind", "name", "script", "url", "timeout_seconds"])?;
        }
    }

    #[test]
    fn a_check_form_refuses_only_on_its_own_fields(
        kind in prop_oneof![Just("http".to_owned()), Just("script".to_owned()), nasty()],
        name in nasty(), url in nasty(), status in nasty(), text in nasty(),
        script in nasty(), every in nasty(), within in nasty(),
    ) {
        let input = CheckInput {
            kind, name, url, expect_status: status, expect_text: text, script,
            interval_seconds: every, within_seconds: within,
        };
        if let Err(errors) = checks::validate(&input) {
            only_fields(&errors, &[
                "kind", "name", "url", "expect_status", "expect_text", "script",
                "interval_seconds", "within_seconds",
            ])?;
        }
    }

    #[test]
    fn a_check_url_fills_in_every_variable_it_names(url in nasty(), value in "[a-z0-9.:/]{0,20}") {
        if let Ok(names) = checks::placeholders(&url) {
            let values: Vec<(String, String)> =
                names.iter().map(|n| ((*n).to_owned(), value.clone())).collect();
            let filled = checks::expand(&url, &values).expect("every name has a value");
            // Every `${` was a name (or `placeholders` refused), so none is left.
            prop_assert!(!filled.contains("${"), "{:?} → {:?}", url, filled);
        } else {
            prop_assert!(checks::expand(&url, &[]).is_err());
        }
    }

    #[test]
    fn cursors_decode_anything_and_round_trip_their_own(value in nasty(), micros in -9_000_000_000_000_000i64..9_000_000_000_000_000, id in any::<i64>()) {
        let _ = Cursor::decode(&value);
        if let Some(created_at) = chrono::DateTime::from_timestamp_micros(micros) {
            let cursor = Cursor { created_at, id };
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor).filter(|_| micros >= 0));
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255(key in nasty()) {
        let accepted = idempotency::key_problem(&key).is_none();
        prop_assert_eq!(accepted, (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()));
    }

    #[test]
    fn dates_and_times_are_read_or_refused_without_panicking(value in nasty()) {
        let _ = dates::datetime_utc(&value);
        let _ = dates::date(&value);
    }

    #[test]
    fn weekdays_refuse_on_the_field_they_are_given(days in prop::collection::vec(nasty(), 0..10)) {
        let mut errors = FieldErrors::new();
        let parsed = weekdays::parse_days(&days, "window_days", &mut errors);
        only_fields(&errors, &["window_days"])?;
        prop_assert!(parsed.iter().all(|d| (1..=7).contains(d)));
        prop_assert!(parsed.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn artifact_arguments_of_the_client_parse_or_say_why(value in nasty()) {
        match crate::client::artifact::parse(&value) {
            Ok(artifact) => {
                prop_assert!(artifact["name"].as_str().is_some_and(|n| !n.is_empty()));
                prop_assert!(artifact["reference"].as_str().is_some_and(|r| !r.is_empty()));
            }
            Err(why) => prop_assert!(why.starts_with("--artifact ")),
        }
    }
}
