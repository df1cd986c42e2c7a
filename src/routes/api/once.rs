//! `Idempotency-Key` on the API's creates: the work, the key's reservation
//! and its stored answer in one transaction (`domain::idempotency`), so a
//! retry gets the first answer and a refused request leaves the key free.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use diesel::{Connection, PgConnection};
use serde_json::Value;

use super::{ApiCtx, ApiError};
use crate::domain::audit::Actor;
use crate::domain::idempotency::{self, Reserved};

pub const HEADER: &str = "Idempotency-Key";

/// How a keyed request went, inside its transaction.
enum Outcome {
    Done(StatusCode, Value),
    Replay(u16, Value),
    Mismatch,
    /// Refused: the key was freed, and what the refusal recorded (its
    /// audit event) is kept.
    Refused(ApiError),
}

/// Answers `work`'s (status, body), at most once per idempotency key.
pub async fn once<F>(
    ctx: &ApiCtx,
    req: &HttpRequest,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection, &Actor) -> Result<(StatusCode, Value), ApiError> + Send + 'static,
{
    let Some(raw) = req.headers().get(HEADER) else {
        let (status, body) = ctx.run(work).await?;
        return Ok(super::json(status, &body));
    };
    let key = raw.to_str().unwrap_or_default().to_owned();
    if let Some(problem) = idempotency::key_problem(&key) {
        return Err(ApiError::bad_request(problem).with_field(HEADER));
    }
    let hash = idempotency::request_hash(req.method().as_str(), req.path(), body);
    let token_id = ctx.token_id;
    let outcome = ctx
        .run(move |conn, actor| -> Result<Outcome, ApiError> {
            Ok(conn.transaction(|conn| -> diesel::QueryResult<Outcome> {
                match idempotency::reserve(conn, token_id, &key, &hash)? {
                    Reserved::Replay { status, body } => return Ok(Outcome::Replay(status, body)),
                    Reserved::Mismatch => return Ok(Outcome::Mismatch),
                    Reserved::Fresh => {}
                }
                match work(conn, actor) {
                    Ok((status, body)) => {
                        idempotency::complete(conn, token_id, &key, status.as_u16(), &body)?;
                        Ok(Outcome::Done(status, body))
                    }
                    Err(refused) => {
                        idempotency::forget(conn, token_id, &key)?;
                        Ok(Outcome::Refused(refused))
                    }
                }
            })?)
        })
        .await?;
    match outcome {
        Outcome::Done(status, body) => Ok(super::json(status, &body)),
        Outcome::Replay(status, body) => Ok(HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        )
        .insert_header(("Idempotent-Replayed", "true"))
        .json(body)),
        Outcome::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request body: use a new key for a new request.",
        )
        .with_field(HEADER)),
        Outcome::Refused(err) => Err(err),
    }
}

/// Reads a JSON body the handler took as bytes (to bind a key to them).
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("The request body could not be read: {err}.")))
}
