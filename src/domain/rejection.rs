//! How a domain function says no, in one shape for every area: what was
//! sent is not valid (a message for each field), the change is refused
//! (with the reason a person reads), the person lacks a right it needs, or
//! what it names does not exist. The
//! web layer turns a rejection into the form again, a message, or an error
//! page (or JSON) in one place: `From<Rejection> for AppError` in
//! `error.rs` for whatever a handler does not show itself. (Access checks
//! that hide a project answer with `access::AccessError`, whose "not
//! found" must look like a missing project.)
//!
//! Each area names it for its reader (`StepError`, `FreezeError`, …);
//! the names are aliases of this one type.

use super::validation::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// What was sent is not valid; nothing changed.
    #[error("not valid: {0:?}")]
    Invalid(FieldErrors),
    /// The rules refuse the change; the text says why, for a person.
    #[error("{0}")]
    Refused(String),
    /// The person lacks a right the change needs; the text names it.
    #[error("{0}")]
    Denied(String),
    /// What the request names does not exist (or may not be seen).
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}
