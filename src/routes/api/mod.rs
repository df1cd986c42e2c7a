//! The JSON API under `/api/v1`, for CI jobs: the powers of the forms under
//! the same rules. Each handler opens what it names the way the pages do
//! (`context::open_project`, the same `access` checks) and calls the same
//! domain functions, so no rule lives twice; only the shapes differ.
//! Callers are named by their API token (`caller`), answers and errors are
//! JSON (`model`, `error`).

pub mod caller;
pub mod changes;
pub mod deployments;
pub mod docs;
pub mod error;
pub mod model;
pub mod once;
pub mod openapi;
pub mod projects;
pub mod releases;

pub use caller::ApiCtx;
pub use error::ApiError;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

/// A body that may be left out (a decision without a comment): empty is
/// the default, anything else must be the JSON of `T`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("The request body could not be read: {err}.")))
}

/// The body of an action that takes nothing (cancelling): left out, or
/// `{}`. Anything else is a client's mistake, answered 400 before anything
/// is done, rather than ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// A JSON answer with `status`.
pub fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// A keyed create's answer as `once` keeps it for retries.
pub fn stored(
    status: StatusCode,
    body: &impl Serialize,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    serde_json::to_value(body)
        .map(|value| (status, value))
        .map_err(|e| ApiError::from(crate::error::AppError::internal(e)))
}
