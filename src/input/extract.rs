//! What the extractors answer when a request's input cannot be read. Every
//! failure is an [`AppError`], so the request middleware renders it as the
//! normal error page (or JSON) instead of actix's plain-text message:
//!
//! - a path segment that does not parse, or holds NUL, names nothing: 404;
//! - a query parameter that does not parse, or holds NUL: 400;
//! - a form that does not parse, repeats a field, or holds NUL: 400, naming
//!   the field (forms are checked in [`crate::auth::csrf`], which reads
//!   every POST body).

use actix_web::http::Uri;
use actix_web::web;

use super::limits;
use super::text::{first_nul_field, quoted};
use crate::error::AppError;

/// The extractor settings, registered once for the whole app.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| query_error(&err.to_string()).into())
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(limits::FORM)
        .error_handler(|err, _| {
            match err {
                actix_web::error::UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
                other => form_error(&other.to_string()),
            }
            .into()
        })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limits::FORM)
        .error_handler(|err, _| {
            match err {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    AppError::PayloadTooLarge
                }
                actix_web::error::JsonPayloadError::Deserialize(err) => AppError::BadRequest(
                    // serde's words name the field and where ("missing
                    // field `version` at line 1 column 2"), nothing internal.
                    format!("The request body could not be read: {err}."),
                ),
                actix_web::error::JsonPayloadError::ContentType => AppError::BadRequest(
                    "Send the request body as JSON (Content-Type: application/json).".to_owned(),
                ),
                _ => AppError::BadRequest("The request body could not be read.".to_owned()),
            }
            .into()
        })
}

/// The field a serde message names in backquotes (`duplicate field `x``).
fn named_field(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// A form that does not fit its fields, said without parser internals.
pub fn form_error(message: &str) -> AppError {
    let text = match named_field(message) {
        Some(name) if message.contains("duplicate field") => format!(
            "The form sent the field {} more than once, so nothing was changed.",
            quoted(name, 64)
        ),
        Some(name) => format!(
            "The field {} could not be read, so nothing was changed.",
            quoted(name, 64)
        ),
        None => "The form could not be read, so nothing was changed.".to_owned(),
    };
    AppError::BadRequest(text)
}

/// A query string that does not fit its parameters.
fn query_error(message: &str) -> AppError {
    AppError::BadRequest(match named_field(message) {
        Some(name) => format!(
            "The address's parameter {} could not be read.",
            quoted(name, 64)
        ),
        None => "The address's parameters could not be read.".to_owned(),
    })
}

/// Refuses a form holding NUL anywhere, naming the field.
pub fn refuse_nul(pairs: &[(String, String)]) -> Result<(), AppError> {
    match first_nul_field(pairs) {
        None => Ok(()),
        Some(field) => Err(AppError::BadRequest(format!(
            "The field {} holds a NUL character, which no text may hold, so nothing was changed.",
            quoted(field, 64)
        ))),
    }
}

/// Checks the address before any handler sees it: NUL can only arrive as
/// `%00` (the request line cannot carry it raw). In the path it names
/// nothing (404); in the query it is a bad parameter (400).
pub fn uri_problem(uri: &Uri) -> Option<AppError> {
    let holds_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if holds_nul(uri.path()) {
        return Some(AppError::NotFound);
    }
    let query = uri.query().filter(|q| holds_nul(q))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let field = first_nul_field(&pairs).unwrap_or("");
    Some(AppError::BadRequest(format!(
        "The address's parameter {} holds a NUL character, which no text may hold.",
        quoted(field, 64)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: AppError) -> String {
        err.public_info().message
    }

    #[test]
    fn serde_messages_become_plain_sentences_naming_the_field() {
        let m = message(form_error("duplicate field `change`"));
        assert!(
            m.contains("“change”") && m.contains("more than once"),
            "{m}"
        );
        let m = message(form_error("missing field `name`"));
        assert!(m.contains("“name”") && !m.contains('`'), "{m}");
        assert!(!message(form_error("invalid digit")).contains("digit"));
        let m = message(query_error(
            "Query deserialize error: invalid digit found in string",
        ));
        assert!(!m.contains("deserialize"), "{m}");
    }

    #[test]
    fn nul_in_a_form_is_refused_naming_the_field() {
        let ok = vec![("a".to_owned(), "b".to_owned())];
        assert!(refuse_nul(&ok).is_ok());
        let bad = vec![("comment".to_owned(), "x\0".to_owned())];
        let m = message(refuse_nul(&bad).unwrap_err());
        assert!(m.contains("“comment”") && m.contains("NUL"), "{m}");
    }

    #[test]
    fn nul_in_the_address_is_a_404_in_the_path_and_a_400_in_the_query() {
        let uri: Uri = "/projects/a%00b".parse().unwrap();
        assert!(matches!(uri_problem(&uri), Some(AppError::NotFound)));
        let uri: Uri = "/projects/a?q=x%00y&env=".parse().unwrap();
        let err = uri_problem(&uri).unwrap();
        assert!(message(err).contains("“q”"));
        let uri: Uri = "/projects/a?q=%2500".parse().unwrap();
        assert!(
            uri_problem(&uri).is_none(),
            "an encoded percent sign is text"
        );
        let uri: Uri = "/projects/a%2500b?q=ok".parse().unwrap();
        assert!(uri_problem(&uri).is_none());
    }
}
