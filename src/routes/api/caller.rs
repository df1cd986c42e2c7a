//! Who calls the API: the bearer token of `Authorization`, checked by the
//! route's gate (`Gate::Token`) before any handler runs, and the context a
//! handler takes. A session cookie counts for nothing here: the API's
//! routes are outside the session middleware, and a request without a
//! token is 401 whatever cookies it carries (so no CSRF token is needed).

use std::future::{Ready, ready};

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use diesel::PgConnection;

use super::error::ApiError;
use crate::db::{self, DbPool};
use crate::domain::audit::Actor;
use crate::domain::tokens::{self, Refusal};

/// The token's owner as the domain sees them, narrowed by the token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub token_id: i64,
}

/// The secret of `Authorization: Bearer …`, if the request has one.
fn bearer(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim().to_owned())
}

fn refused(refusal: Refusal) -> ApiError {
    let message = match refusal {
        Refusal::Unknown => return ApiError::unauthorized(),
        Refusal::Expired => "This token has expired: make a new one on your account page.",
        Refusal::Revoked => "This token was revoked.",
        Refusal::OwnerDisabled => "This token's owner is disabled.",
    };
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        message,
    )
}

/// Checks the request's token and keeps the caller for the handler.
pub async fn admit(req: &ServiceRequest) -> Result<(), ApiError> {
    let secret = bearer(req).ok_or_else(ApiError::unauthorized)?;
    let pool = req
        .app_data::<web::Data<DbPool>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::from(crate::error::AppError::internal(anyhow::anyhow!("no pool")))
        })?;
    let addr = crate::routes::client_addr(req.request());
    let outcome = db::run(&pool, move |conn| {
        tokens::authenticate(conn, &secret, addr.as_deref())
    })
    .await?;
    let authenticated = outcome.map_err(refused)?;
    req.extensions_mut().insert(Caller {
        actor: authenticated.actor,
        token_id: authenticated.token_id,
    });
    Ok(())
}

/// What an API handler works with: the caller and the database.
pub struct ApiCtx {
    pub actor: Actor,
    /// The token the request came with (idempotency keys belong to it).
    pub token_id: i64,
    pool: web::Data<DbPool>,
}

impl ApiCtx {
    /// Runs blocking database work for this request (see [`db::run`]).
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection, &Actor) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let actor = self.actor.clone();
        db::run(&self.pool, move |conn| work(conn, &actor))
            .await
            .map_err(ApiError::from)
    }
}

impl FromRequest for ApiCtx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        let pool = req.app_data::<web::Data<DbPool>>().cloned();
        ready(match (caller, pool) {
            (Some(caller), Some(pool)) => Ok(ApiCtx {
                actor: caller.actor,
                token_id: caller.token_id,
                pool,
            }),
            // Only a route without `Gate::Token` gets here without a caller.
            _ => Err(ApiError::unauthorized()),
        })
    }
}
