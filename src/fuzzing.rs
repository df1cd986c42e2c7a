//! What the `cargo fuzz` targets in `fuzz/` call: the parsers and
//! validators of user text, reached through one module so the targets do
//! not depend on where each lives, and the crate-private ones are wrapped
//! here instead of made public. Not an API: nothing in the application
//! uses it (see fuzz/README.md).

pub use crate::client::artifact::parse as client_artifact;
pub use crate::domain::checks::{CheckInput, expand, placeholders};
pub use crate::domain::idempotency::key_problem as idempotency_key_problem;
pub use crate::domain::keyset::Cursor;
pub use crate::domain::releases::{
    ArtifactInput, MAX_ARTIFACTS, ReleaseInput, validate as release_form,
};
pub use crate::domain::steps::StepInput;
pub use crate::domain::validation::{
    FieldErrors, name_problem, slug_problem, slugify, text_problem, url_problem, version_problem,
};
pub use crate::domain::webhooks::{Due, body_of as webhook_body, sign as webhook_signature};
pub use crate::domain::weekdays::parse_days;
pub use crate::input::dates::{date, datetime_utc};
pub use crate::input::text::{escaped_line, escaped_lines, line_problem, lines_problem, quoted};

/// The check form's verdict (`domain::checks::validate` is crate-private).
pub fn check_form(input: &CheckInput) -> Result<(), FieldErrors> {
    crate::domain::checks::validate(input).map(|_| ())
}

/// The step form's verdict (`domain::steps::validate` is crate-private).
pub fn step_form(input: &StepInput) -> Result<(), FieldErrors> {
    crate::domain::steps::validate(input).map(|_| ())
}

/// What the request check (`input::extract::uri_problem`) says of an
/// address, `path?query` as a request line carries it: `None` when it is
/// not an address (it never reaches the check), else the refusal's
/// message, if any.
pub fn address_problem(address: &str) -> Option<Result<(), String>> {
    let uri: actix_web::http::Uri = address.parse().ok()?;
    Some(match crate::input::extract::uri_problem(&uri) {
        None => Ok(()),
        Some(err) => Err(err.public_info().message),
    })
}

/// A form body as the release form's handler reads it: the fields in
/// order, or `None` where the form extractor answers 400 (unreadable, or a
/// field holding NUL).
pub fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    crate::input::extract::refuse_nul(&pairs).ok()?;
    Some(pairs)
}
