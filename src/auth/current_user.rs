//! The signed-in user, read from the database on every request so that a
//! disabled account or a changed admin flag takes effect at once: with the
//! session, in the same statement (see [`session_store`]), or on its own
//! when the session was not loaded in this request's scope.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::session::TypedSession;
use super::session_store::{self, SessionUser};
use crate::db::{self, DbPool};
use crate::domain::approvals;
use crate::domain::ids::UserId;
use crate::domain::users;
use crate::error::AppError;

/// The session's CSRF token, copied into the request for error pages.
#[derive(Debug, Clone)]
pub struct RequestCsrfToken(pub String);

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    /// Deployments waiting for this user's approval (the header's count),
    /// counted up to [`approvals::PENDING_COUNT_CAP`].
    pub pending_approvals: i64,
}

impl CurrentUser {
    /// The header's count as shown: "99+" once the count reaches its cap.
    pub fn pending_badge(&self) -> String {
        if self.pending_approvals >= approvals::PENDING_COUNT_CAP {
            format!("{}+", approvals::PENDING_COUNT_CAP - 1)
        } else {
            self.pending_approvals.to_string()
        }
    }

    /// The first letter of the display name, for the avatar.
    pub fn initial(&self) -> String {
        self.display_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // Already read for this request (by a route's gate).
            if let Some(current) = req.extensions().get::<CurrentUser>().cloned() {
                return Ok(current);
            }
            let login_required = || AppError::LoginRequired {
                next: req
                    .uri()
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
            };
            let session = TypedSession::extract(&req)
                .await
                .map_err(|_| login_required())?;
            let Some(user_id) = session.user_id() else {
                return Err(login_required());
            };
            let found = match session_store::loaded_user(user_id) {
                // Read with the session, in the same statement.
                Some(loaded) => loaded,
                None => load(&req, user_id).await?,
            };
            let Some(user) = found else {
                // Disabled or removed since the session began.
                session.log_out();
                return Err(login_required());
            };
            let current = CurrentUser {
                id: user.id,
                username: user.username,
                display_name: user.display_name,
                is_admin: user.is_admin,
                pending_approvals: user.pending_approvals,
            };
            // Error pages are rendered after the session middleware has
            // taken the session state back, so leave what they need here.
            req.extensions_mut().insert(current.clone());
            if let Some(token) = session.existing_csrf_token() {
                req.extensions_mut().insert(RequestCsrfToken(token));
            }
            Ok(current)
        })
    }
}

/// The user and their header count, on their own: for requests handled
/// outside [`session_store::request_scope`].
async fn load(req: &HttpRequest, user_id: UserId) -> Result<Option<SessionUser>, AppError> {
    let pool = req
        .app_data::<web::Data<DbPool>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no database pool configured")))?;
    let found = db::run(pool, move |conn| -> diesel::QueryResult<_> {
        let Some(user) = users::find_active(conn, user_id)? else {
            return Ok(None);
        };
        let actor =
            crate::domain::audit::Actor::user(user.id, user.username.clone(), user.is_admin, None);
        let pending_approvals = approvals::pending_count(conn, &actor)?;
        Ok(Some(SessionUser {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            is_admin: user.is_admin,
            pending_approvals,
        }))
    })
    .await?;
    Ok(found)
}
