//! Which characters text from the network may hold.
//!
//! - NUL is never text: PostgreSQL refuses it and a process cannot be given
//!   it, so it is refused everywhere (by the form extractor, and again by
//!   the validators of values that are stored or passed on).
//! - A *line* (a name, a title, a time zone) holds no control characters at
//!   all, and no bidi controls, which reorder how the text around them is
//!   shown (a name that reads "exe.png" but is "gnp.exe").
//! - *Lines* (a description, a script, a variable's value) may also hold
//!   tab, line feed and carriage return.
//! - What is written to a log or the audit trail is escaped instead of
//!   refused, since it records what someone sent (a sign-in's username).

use std::borrow::Cow;
use std::fmt::Write;

/// The field message for a NUL character.
pub const NUL_PROBLEM: &str = "Remove the NUL character: no text may hold one.";
/// The field message for a control character in a one-line field.
pub const LINE_PROBLEM: &str =
    "Use one line, with no control characters (tabs, line breaks, escapes) or direction overrides.";
/// The field message for a control character in multi-line text.
pub const LINES_PROBLEM: &str =
    "Remove the control character or direction override: only tabs and line breaks may appear.";

/// Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Not allowed in a one-line field.
fn bad_in_line(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Not allowed in multi-line text.
fn bad_in_lines(c: char) -> bool {
    bad_in_line(c) && !matches!(c, '\t' | '\n' | '\r')
}

/// `None` when `value` may be a one-line field, else the field's message.
pub fn line_problem(value: &str) -> Option<&'static str> {
    if value.contains('\0') {
        Some(NUL_PROBLEM)
    } else if value.chars().any(bad_in_line) {
        Some(LINE_PROBLEM)
    } else {
        None
    }
}

/// `None` when `value` may be multi-line text, else the field's message.
pub fn lines_problem(value: &str) -> Option<&'static str> {
    if value.contains('\0') {
        Some(NUL_PROBLEM)
    } else if value.chars().any(bad_in_lines) {
        Some(LINES_PROBLEM)
    } else {
        None
    }
}

/// The name of the first field whose name or value holds NUL.
pub fn first_nul_field(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.as_str())
}

fn escape_where(value: &str, bad: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !value.chars().any(&bad) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if bad(c) {
            // Visible and unambiguous; contains no control itself, so
            // escaping twice changes nothing.
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `value` for one line of a log or the audit trail: every control
/// character and bidi control written as `\u{…}`.
pub fn escaped_line(value: &str) -> Cow<'_, str> {
    escape_where(value, bad_in_line)
}

/// Like [`escaped_line`], keeping tabs and line breaks.
pub fn escaped_lines(value: &str) -> Cow<'_, str> {
    escape_where(value, bad_in_lines)
}

/// `value` shortened to at most `max` characters, for quoting in a message.
pub fn quoted(value: &str, max: usize) -> String {
    let short: String = escaped_line(value).chars().take(max).collect();
    format!("“{short}”")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_in_every_kind_of_field() {
        assert_eq!(line_problem("adm\0in"), Some(NUL_PROBLEM));
        assert_eq!(lines_problem("echo\0"), Some(NUL_PROBLEM));
        assert_eq!(lines_problem("\0"), Some(NUL_PROBLEM));
    }

    #[test]
    fn a_line_holds_no_controls_or_bidi_overrides() {
        assert_eq!(line_problem("Staging EU — Zürich 東京"), None);
        assert_eq!(line_problem(""), None);
        for bad in [
            "a\tb",
            "a\nb",
            "a\rb",
            "\u{1b}[2J",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "\u{202e}gnp.exe",
            "\u{202a}x",
            "\u{2066}x\u{2069}",
        ] {
            assert_eq!(line_problem(bad), Some(LINE_PROBLEM), "{bad:?}");
        }
    }

    #[test]
    fn lines_keep_tabs_and_line_breaks_only() {
        assert_eq!(lines_problem("set -e\r\n\techo hi\n"), None);
        assert_eq!(lines_problem("echo \u{1b}[31m"), Some(LINES_PROBLEM));
        assert_eq!(lines_problem("x\u{202e}y"), Some(LINES_PROBLEM));
        assert_eq!(lines_problem("x\u{2069}"), Some(LINES_PROBLEM));
    }

    #[test]
    fn the_first_field_with_nul_is_named() {
        let pairs = vec![
            ("title".to_owned(), "ok".to_owned()),
            ("comment".to_owned(), "a\0b".to_owned()),
            ("x\0".to_owned(), String::new()),
        ];
        assert_eq!(first_nul_field(&pairs), Some("comment"));
        assert_eq!(first_nul_field(&pairs[..1]), None);
        assert_eq!(first_nul_field(&pairs[2..]), Some("x\0"));
    }

    #[test]
    fn logs_get_controls_and_bidi_escaped_once() {
        assert_eq!(escaped_line("admin"), "admin");
        assert!(matches!(escaped_line("admin"), Cow::Borrowed(_)));
        assert_eq!(escaped_line("adm\0in"), "adm\\u{0}in");
        assert_eq!(escaped_line("\u{202e}nimda"), "\\u{202e}nimda");
        assert_eq!(escaped_line("a\r\nb\u{1b}"), "a\\u{d}\\u{a}b\\u{1b}");
        let once = escaped_line("\u{2066}x\u{7}").into_owned();
        assert_eq!(escaped_line(&once), once);
        assert_eq!(escaped_lines("a\r\n\tb\u{202d}"), "a\r\n\tb\\u{202d}");
    }

    #[test]
    fn quoting_escapes_and_shortens() {
        assert_eq!(quoted("comment", 64), "“comment”");
        assert_eq!(quoted("a\0b", 64), "“a\\u{0}b”");
        assert_eq!(quoted(&"x".repeat(100), 3), "“xxx”");
    }
}
