//! The gate each route's row names, checked before its handler runs, so a
//! handler cannot forget it: sign-in for everything not public, and the
//! admin flag for the console, with refusals audited.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::access;
use crate::error::AppError;

/// Who may pass a route's gate. Past it, a project's pages and actions
/// still answer to the domain's per-environment rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user; a project they may not see is "not found". The
    /// handler resolves the project and the user's rights in it once
    /// (`context::open_project`), in the same database call as its work.
    Project(Needs),
    /// Administrators only; what a refusal is audited and shown as.
    Admin(&'static str),
    /// The API: a valid token in `Authorization: Bearer …` (401 otherwise,
    /// whatever cookies come with it). Past it, the token's owner answers to
    /// the same rules as on the pages, narrowed to the token's scope.
    Token,
}

/// What a project route needs beyond seeing the project: the permission
/// test holds each route to it for a user who may only view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Seeing is enough.
    View,
    /// A role that acts: deployer, approver or admin.
    Act,
}

pub type Checked = Pin<Box<dyn Future<Output = Result<ServiceResponse<BoxBody>, Error>>>>;

/// Passes the request on if the gate lets it through; otherwise answers
/// as a handler's error would be answered (sign in first, or 403).
pub fn check(gate: Gate, mut req: ServiceRequest, next: Next<BoxBody>) -> Checked {
    Box::pin(async move {
        if gate == Gate::Public {
            return next.call(req).await;
        }
        if gate == Gate::Token {
            return match super::api::caller::admit(&req).await {
                Ok(()) => next.call(req).await,
                Err(err) => Ok(req.error_response(err)),
            };
        }
        let user = match req.extract::<CurrentUser>().await {
            Ok(user) => user,
            Err(err) => return Ok(req.error_response(err)),
        };
        if let Gate::Admin(what) = gate
            && !user.is_admin
        {
            let refused = refuse_admin(&req, &user, what).await;
            return Ok(req.error_response(refused));
        }
        next.call(req).await
    })
}

/// Audits the refusal (through the one function every admin check uses)
/// and returns the error to answer with.
async fn refuse_admin(req: &ServiceRequest, user: &CurrentUser, what: &'static str) -> AppError {
    let Some(pool) = req.app_data::<web::Data<DbPool>>().cloned() else {
        return AppError::internal(anyhow::anyhow!("no database pool"));
    };
    let actor = super::actor(req.request(), user);
    match db::run(&pool, move |conn| access::require_admin(conn, &actor, what)).await {
        Ok(()) => AppError::internal(anyhow::anyhow!("admin check passed a non-admin")),
        Err(err) => err.into(),
    }
}
