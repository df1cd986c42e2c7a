//! The new-release form as its handler reads it: a url-encoded body, read
//! into fields (400 when unreadable or holding NUL), artifact rows put
//! together by the handler's own code column by column (`artifact_name`, `artifact_reference`,
//! `artifact_url`, `artifact_sha256`, repeated, in row order), then judged
//! by `domain::releases::validate`. Nothing panics; a refusal names the
//! form's own fields, and only rows that exist and are not blank; what is
//! accepted keeps the rules; rows survive being sent again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecoach::fuzzing::{self, ArtifactInput, MAX_ARTIFACTS};

fn blank(a: &ArtifactInput) -> bool {
    [&a.name, &a.reference, &a.url, &a.sha256]
        .iter()
        .all(|v| v.trim().is_empty())
}

fn one_line_of(value: &str, max: usize) -> bool {
    let n = value.chars().count();
    (1..=max).contains(&n) && !value.chars().any(|c| c.is_control())
}

fuzz_target!(|body: &[u8]| {
    let Some(fields) = fuzzing::form_fields(body) else {
        return;
    };
    let input = fuzzing::release_input(&fields);
    let errors = fuzzing::release_form(&input);
    for (field, message) in errors.iter() {
        assert!(!message.is_empty(), "empty message on {field}");
        if matches!(field, "version" | "title" | "description" | "artifacts") {
            continue;
        }
        let (row, column) = field
            .strip_prefix("artifacts[")
            .and_then(|rest| rest.split_once("]."))
            .unwrap_or_else(|| panic!("refusal on unknown field {field:?}"));
        let row: usize = row.parse().expect("a row number");
        assert!(row < input.artifacts.len(), "{field} names no row");
        assert!(
            !blank(&input.artifacts[row]),
            "{field}: a blank row is refused"
        );
        assert!(
            matches!(column, "name" | "reference" | "url" | "sha256"),
            "{field}"
        );
    }
    let kept: Vec<&ArtifactInput> = input.artifacts.iter().filter(|a| !blank(a)).collect();
    if errors.is_empty() {
        let version = input.version.trim();
        assert!(fuzzing::version_problem(version).is_none());
        assert!(one_line_of(input.title.trim(), 200), "{:?}", input.title);
        assert!(kept.len() <= MAX_ARTIFACTS);
        for a in &kept {
            assert!(one_line_of(a.name.trim(), 200), "{a:?}");
            assert!(one_line_of(a.reference.trim(), 200), "{a:?}");
            let sha = a.sha256.trim();
            assert!(
                sha.is_empty() || (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
            );
            let url = a.url.trim();
            assert!(url.is_empty() || url.starts_with("https://") || url.starts_with("http://"));
            assert!(!url.chars().any(char::is_whitespace), "{url:?}");
        }
    }
    // Sent again (the form re-rendered with what was typed, then posted),
    // the rows come back as they were.
    let mut again: Vec<(&str, &str)> = vec![
        ("version", &input.version),
        ("title", &input.title),
        ("description", &input.description),
    ];
    for a in &input.artifacts {
        again.push(("artifact_name", &a.name));
        again.push(("artifact_reference", &a.reference));
        again.push(("artifact_url", &a.url));
        again.push(("artifact_sha256", &a.sha256));
    }
    let body = serde_urlencoded::to_string(&again).expect("pairs of text encode");
    let fields = fuzzing::form_fields(body.as_bytes()).expect("an encoded form reads back");
    let back = fuzzing::release_input(&fields);
    assert_eq!(back.version, input.version);
    assert_eq!(back.title, input.title);
    assert_eq!(back.description, input.description);
    assert_eq!(back.artifacts.len(), input.artifacts.len());
    for (b, a) in back.artifacts.iter().zip(&input.artifacts) {
        assert_eq!(
            (&b.name, &b.reference, &b.url, &b.sha256),
            (&a.name, &a.reference, &a.url, &a.sha256)
        );
    }
    assert_eq!(
        fuzzing::release_form(&back).iter().count(),
        errors.iter().count()
    );
});
