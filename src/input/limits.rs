//! Body limits that follow from the documented field limits, which count
//! characters. A url-encoded body spends up to 12 bytes on one character
//! (4 bytes of UTF-8, each written `%XX`), so a 64 KiB body could not hold
//! the 100,000-character script the step form promises. Each form's limit
//! is its longest fields' characters at 12 bytes, plus room for its short
//! fields; validation still counts the characters of each field.

use crate::domain::validation::{MAX_URL_CHARS, MAX_VERSION_CHARS};
use crate::domain::{releases, steps, variables};

/// Bytes a url-encoded body may spend on one character.
pub const BYTES_PER_CHAR: usize = 4 * 3;

/// Room for a form's short fields: names, separators, choices, the CSRF
/// token, blank artifact rows.
pub const SHORT_FIELDS: usize = 64 * 1024;

/// The body limit of a form whose long fields hold `chars` characters.
pub const fn form_limit(chars: usize) -> usize {
    chars * BYTES_PER_CHAR + SHORT_FIELDS
}

/// The text of any other form: a 2,000-character comment or description
/// (deploy, approval, project) or URL (environment), with a name.
const ORDINARY_FORM_CHARS: usize = 2_500;

/// Every form without a limit of its own.
pub const FORM: usize = form_limit(ORDINARY_FORM_CHARS);

/// A new release: title, description and every artifact's fields.
pub const RELEASE_FORM: usize = form_limit(
    2 * MAX_VERSION_CHARS
        + releases::MAX_TITLE_CHARS
        + releases::MAX_DESCRIPTION_CHARS
        + releases::MAX_ARTIFACTS * (releases::MAX_ARTIFACT_FIELD_CHARS * 2 + MAX_URL_CHARS + 64),
);

/// A step: its script, name and webhook URL.
pub const STEP_FORM: usize =
    form_limit(steps::MAX_SCRIPT_CHARS + steps::MAX_NAME_CHARS + MAX_URL_CHARS);

/// A variable: its value and name.
pub const VARIABLE_FORM: usize = form_limit(variables::MAX_VALUE_CHARS + variables::MAX_NAME_CHARS);

// No form accepts megabytes it has no field for (checked when compiling).
const _: () = assert!(
    FORM < 128 * 1024
        && VARIABLE_FORM < 256 * 1024
        && RELEASE_FORM < 1024 * 1024
        && STEP_FORM < 1400 * 1024
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded size of `chars` characters of the widest kind.
    fn worst(chars: usize) -> usize {
        serde_urlencoded::to_string([("f", "😀".repeat(chars))])
            .unwrap()
            .len()
    }

    #[test]
    fn the_documented_limits_fit_in_the_bodies() {
        assert!(worst(steps::MAX_SCRIPT_CHARS) < STEP_FORM);
        assert!(worst(releases::MAX_DESCRIPTION_CHARS) < RELEASE_FORM);
        assert!(worst(variables::MAX_VALUE_CHARS) < VARIABLE_FORM);
        assert!(worst(2_000) < FORM);
        assert_eq!(worst(1) - "f=".len(), BYTES_PER_CHAR);
    }
}
