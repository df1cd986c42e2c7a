//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db::{self, DbPool};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can reach its database (503 otherwise, within the pool's
/// connection timeout).
pub async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let result = db::run(&pool, db::ping).await;
    match result {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(err) => {
            tracing::warn!("readiness check failed: {err}");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
