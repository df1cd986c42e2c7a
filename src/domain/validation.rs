//! Field-by-field validation errors, shared by every form: each message is
//! shown beside its field and in the form's error summary.

use std::collections::BTreeMap;

use diesel::prelude::*;

#[derive(Debug, Clone, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the first problem of a field; later ones for it are dropped.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (field, message) pairs, for the error summary.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }

    /// Every message, each after its field's name: for an answer that has
    /// no form to put them beside.
    pub fn summary(&self) -> String {
        self.iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

pub use crate::input::text::{line_problem, lines_problem};

/// Longest version or version label, in characters.
pub const MAX_VERSION_CHARS: usize = 64;
/// Longest URL, in characters.
pub const MAX_URL_CHARS: usize = 2000;

/// A version or version label: 1 to 64 of `A-Z a-z 0-9 . _ + -`.
pub fn version_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("Enter a version.")
    } else if value.chars().count() > MAX_VERSION_CHARS {
        Some("Use at most 64 characters.")
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        Some("Use only letters, digits and . _ + -")
    } else {
        None
    }
}

/// A slug: lower-case letters, digits and dashes, starting with a letter or
/// digit, at most 63 characters.
pub fn slug_problem(value: &str) -> Option<&'static str> {
    let mut chars = value.chars();
    match chars.next() {
        None => Some("Enter a slug."),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            Some("Start with a lower-case letter or digit.")
        }
        _ if value.len() > 63 => Some("Use at most 63 characters."),
        _ if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') => {
            Some("Use only lower-case letters, digits and dashes.")
        }
        _ => None,
    }
}

/// A slug made from a name: "Staging EU" becomes "staging-eu".
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    // Cut to 63 first, then drop a dash the cut may leave at the end.
    let slug: String = slug.chars().take(63).collect();
    slug.trim_end_matches('-').to_owned()
}

/// An optional http(s) URL of at most 2,000 characters.
pub fn url_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return None;
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        None => Some("Enter a URL starting with https:// or http://"),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            Some("Enter a URL with a host name.")
        }
        Some(_) if value.chars().count() > MAX_URL_CHARS => Some("Use at most 2,000 characters."),
        Some(_) if value.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("A URL has no spaces.")
        }
        Some(_) => None,
    }
}

/// A time-zone name from a form: UTC when left empty; refused on `field`
/// when PostgreSQL does not know it.
pub fn time_zone(
    conn: &mut PgConnection,
    value: &str,
    field: &str,
    errors: &mut FieldErrors,
) -> QueryResult<String> {
    let zone = match value.trim() {
        "" => "UTC".to_owned(),
        zone => zone.to_owned(),
    };
    if !time_zone_known(conn, &zone)? {
        errors.add(field, "Use a time zone name like Europe/Berlin or UTC.");
    }
    Ok(zone)
}

/// Whether PostgreSQL knows the time zone `zone` (an IANA name such as
/// Europe/Berlin): windows, schedules and freezes are judged there.
pub fn time_zone_known(conn: &mut PgConnection, zone: &str) -> QueryResult<bool> {
    // No zone name holds a control character; NUL would not even reach
    // PostgreSQL as text.
    if line_problem(zone).is_some() {
        return Ok(false);
    }
    diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = ",
        )
        .bind::<diesel::sql_types::Text, _>(zone)
        .sql(")"),
    )
    .get_result(conn)
}

/// One line (a name, a title) of `min..=max` characters: no control
/// characters or direction overrides.
pub fn name_problem(value: &str, min: usize, max: usize, what: &str) -> Option<String> {
    line_problem(value)
        .map(str::to_owned)
        .or_else(|| length_problem(value, min, max, what))
}

/// Multi-line text of at most `max` characters: tabs and line breaks, but
/// no other control characters.
pub fn text_problem(value: &str, max: usize) -> Option<String> {
    lines_problem(value).map(str::to_owned).or_else(|| {
        (value.chars().count() > max).then(|| format!("Use at most {} characters.", thousands(max)))
    })
}

/// 10000 as "10,000", for messages.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text of `min..=max` characters, counted as characters.
pub fn length_problem(value: &str, min: usize, max: usize, what: &str) -> Option<String> {
    let len = value.chars().count();
    if len < min {
        Some(if min == 1 {
            format!("Enter {what}.")
        } else {
            format!("Use at least {min} characters.")
        })
    } else if len > max {
        Some(format!("Use at most {max} characters."))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_allow_the_documented_characters_only() {
        assert_eq!(version_problem("2.4.0-rc.3+build_7"), None);
        assert!(version_problem("").is_some());
        assert!(version_problem("2.4 beta").is_some());
        assert!(version_problem("<script>").is_some());
        assert!(version_problem(&"1".repeat(65)).is_some());
        assert_eq!(version_problem(&"1".repeat(64)), None);
    }

    #[test]
    fn slugs_are_made_from_names() {
        assert_eq!(slugify("Staging EU"), "staging-eu");
        assert_eq!(slugify("  QA / Perf  "), "qa-perf");
        assert_eq!(slug_problem("staging-eu"), None);
        assert!(slug_problem("-x").is_some());
        assert!(slug_problem("Bad").is_some());
    }

    #[test]
    fn a_slug_cut_to_63_characters_ends_with_no_dash() {
        // Found by fuzz/ (validators): the cut came after the trim.
        let slug = slugify(&format!("{} b", "a".repeat(62)));
        assert_eq!(slug, "a".repeat(62));
        assert_eq!(slugify(&slug), slug);
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert_eq!(url_problem(""), None);
        assert_eq!(url_problem("https://qa.example.com/app"), None);
        assert!(url_problem("javascript:alert(1)").is_some());
        assert!(url_problem("https://").is_some());
        assert!(url_problem("https://a b").is_some());
    }

    #[test]
    fn names_are_one_line_and_texts_have_no_controls_but_line_breaks() {
        assert_eq!(name_problem("Staging EU", 1, 100, "a name"), None);
        assert!(
            name_problem("QA\tEU", 1, 100, "a name")
                .unwrap()
                .contains("control")
        );
        assert!(
            name_problem("a\0", 1, 100, "a name")
                .unwrap()
                .contains("NUL")
        );
        assert!(
            name_problem("", 1, 100, "a name")
                .unwrap()
                .contains("Enter")
        );
        assert_eq!(text_problem("one\r\n\ttwo", 10), None);
        assert!(text_problem("\u{1b}[2J", 10).unwrap().contains("control"));
        assert_eq!(
            text_problem(&"é".repeat(10_001), 10_000).unwrap(),
            "Use at most 10,000 characters."
        );
        assert_eq!(text_problem(&"😀".repeat(10_000), 10_000), None);
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(500), "500");
    }

    #[test]
    fn urls_count_characters() {
        let url = format!("https://example.com/{}", "ü".repeat(1_980));
        assert_eq!(url_problem(&url), None);
        assert!(url_problem(&format!("{url}ü")).is_some());
    }

    #[test]
    fn the_first_error_of_a_field_wins() {
        let mut errors = FieldErrors::new();
        errors.add("name", "first");
        errors.add("name", "second");
        assert_eq!(errors.get("name"), Some("first"));
        assert!(errors.into_result().is_err());
    }
}
