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

/// The new-release form's fields put together as its handler does
/// (`routes::releases::parse_release_form`): artifact rows column by
/// column, in row order.
pub fn release_input(fields: &[(String, String)]) -> ReleaseInput {
    crate::routes::releases::parse_release_form(fields).0
}

/// The release list's query string as its handler's extractor reads it
/// (`routes::releases::ListQuery`): the search, the environment and the
/// cursor as sent, or `None` where the extractor answers 400.
pub fn release_list_query(query: &str) -> Option<(String, String, Option<String>)> {
    let list: crate::routes::releases::ListQuery = serde_urlencoded::from_str(query).ok()?;
    Some((list.q, list.env, list.before))
}

/// The search's text as it goes into `ILIKE '%…%'`: `%`, `_` and the
/// escape character itself taken literally.
pub fn search_pattern(search: &str) -> String {
    format!("%{}%", crate::domain::releases::escape_like(search))
}

/// A form body as the release form's handler reads it: the fields in
/// order, or `None` where the form extractor answers 400 (unreadable, or a
/// field holding NUL).
pub fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    crate::input::extract::refuse_nul(&pairs).ok()?;
    Some(pairs)
}
