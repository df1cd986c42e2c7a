//! `AppError`: the one error type of the web layer. Handlers and extractors
//! return it; `error_response` only sets the status and attaches an
//! [`ErrorInfo`]; the request middleware turns that into an HTML page, or
//! JSON under `/api/`, in one place (`middleware::requests`).
//!
//! Domain code says no with `domain::rejection::Rejection` (and a few
//! errors of their own); `From` impls below map them here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::db::RunError;

#[derive(thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// The signed-in user lacks a right; the text names it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A POST without a valid CSRF token or from another site.
    #[error("CSRF check failed")]
    Csrf,
    /// Not signed in: pages redirect to the login form, returning to `next`.
    #[error("login required")]
    LoginRequired { next: String },
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The rules refused a change; the text says why.
    #[error("refused: {0}")]
    Refused(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// The API token the request came with was revoked (or expired, or its
    /// owner disabled) while the request ran: the database refused the
    /// change whole (`audit_events_token_in_force`).
    #[error("token no longer in force")]
    TokenWithdrawn,
    /// The database could not be reached in time.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database takes no writes (read-only, e.g. a full disk or a
    /// standby): reads go on, a change is refused whole.
    #[error("database read-only")]
    ReadOnly(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Walks the cause chain so logs keep the whole story.
impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            writeln!(f, "  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The stable code a JSON error answer carries for its status (`"error"`),
/// for clients to match on.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "too_large",
        422 => "invalid",
        503 => "unavailable",
        _ if status.is_server_error() => "internal",
        _ => "error",
    }
}

/// What the error page (or JSON body) says. Never contains internals.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl AppError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// What may be shown to the user about this error.
    pub fn public_info(&self) -> ErrorInfo {
        let (title, message) = match self {
            Self::NotFound => (
                "Page not found",
                "There is nothing here, or you may not see it. Check the address, or start again from the dashboard.".to_owned(),
            ),
            Self::Forbidden(missing) => ("Not allowed", missing.clone()),
            Self::Csrf => (
                "Form expired",
                "This form has expired or did not come from this site, so nothing was changed. Go back, reload the page and try again.".to_owned(),
            ),
            Self::LoginRequired { .. } => ("Sign in required", "Sign in to continue.".to_owned()),
            Self::BadRequest(message) => ("Bad request", message.clone()),
            Self::Refused(reason) => ("Not done", reason.clone()),
            Self::PayloadTooLarge => (
                "Request too large",
                "What you sent is larger than this server accepts, so nothing was changed.".to_owned(),
            ),
            Self::TokenWithdrawn => (
                "Token withdrawn",
                "This token was revoked, expired or its owner disabled while the request ran, so nothing was changed.".to_owned(),
            ),
            Self::Unavailable(_) => (
                "Service unavailable",
                "Stagecoach cannot reach its database right now. Try again in a moment.".to_owned(),
            ),
            Self::ReadOnly(_) => (
                "Changes paused",
                "Stagecoach's database accepts no changes right now (it is read-only), so nothing was changed. Everything can still be read; try the change again later.".to_owned(),
            ),
            Self::Internal(_) => (
                "Something went wrong",
                "An unexpected error stopped this request. Nothing was changed. Quote the request id below when you report it.".to_owned(),
            ),
        };
        ErrorInfo {
            status: self.status_code(),
            title,
            message,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Forbidden(_) | Self::Csrf => StatusCode::FORBIDDEN,
            Self::LoginRequired { .. } => StatusCode::SEE_OTHER,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Refused(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TokenWithdrawn => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) | Self::ReadOnly(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(_) => tracing::error!(error = ?self, "request failed"),
            Self::Unavailable(_) => tracing::warn!(error = ?self, "database unavailable"),
            Self::ReadOnly(_) => tracing::warn!(error = ?self, "database read-only"),
            _ => {}
        }
        let mut response = HttpResponse::new(self.status_code());
        if let Self::LoginRequired { next } = self {
            let location = crate::urls::login_url(next);
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
        }
        response.extensions_mut().insert(self.public_info());
        response
    }
}

impl<E: Into<AppError>> From<RunError<E>> for AppError {
    fn from(err: RunError<E>) -> Self {
        match err {
            RunError::Unavailable(e) => Self::Unavailable(e.into()),
            RunError::Blocking => Self::Internal(anyhow::anyhow!("blocking task failed")),
            RunError::Work(e) => e.into(),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => Self::NotFound,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _,
            ) => Self::Unavailable(err.into()),
            ref read_only if crate::db::is_read_only(read_only) => Self::ReadOnly(err.into()),
            ref withdrawn
                if crate::db::violated_check(withdrawn) == Some("audit_events_token_in_force") =>
            {
                Self::TokenWithdrawn
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

/// A rejection a handler did not show itself (as a form or a message).
impl From<crate::domain::rejection::Rejection> for AppError {
    fn from(err: crate::domain::rejection::Rejection) -> Self {
        use crate::domain::rejection::Rejection;
        match err {
            Rejection::Invalid(errors) => Self::BadRequest(errors.summary()),
            Rejection::Refused(reason) => Self::Refused(reason),
            Rejection::Denied(missing) => Self::Forbidden(missing),
            Rejection::NotFound => Self::NotFound,
            Rejection::Db(err) => err.into(),
        }
    }
}

impl From<crate::domain::users::ChangePasswordError> for AppError {
    fn from(err: crate::domain::users::ChangePasswordError) -> Self {
        use crate::domain::users::ChangePasswordError;
        match err {
            ChangePasswordError::Invalid(_) => {
                Self::BadRequest("The new password was not accepted.".to_owned())
            }
            ChangePasswordError::Db(err) => err.into(),
            ChangePasswordError::Hash(err) => Self::Internal(err),
        }
    }
}

impl From<crate::domain::access::AccessError> for AppError {
    fn from(err: crate::domain::access::AccessError) -> Self {
        use crate::domain::access::{AccessError, Denied};
        match err {
            AccessError::Denied(Denied::Hidden) => Self::NotFound,
            AccessError::Denied(Denied::Missing(missing)) => Self::Forbidden(missing),
            AccessError::Db(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rejection::Rejection;
    use crate::domain::validation::FieldErrors;

    #[test]
    fn a_rejection_no_handler_showed_becomes_the_matching_answer() {
        let mut errors = FieldErrors::new();
        errors.add("version", "Use letters, digits, dots and dashes.");
        let invalid = AppError::from(Rejection::Invalid(errors)).public_info();
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            invalid.message,
            "version: Use letters, digits, dots and dashes."
        );

        let refused = AppError::from(Rejection::Refused("It is frozen.".into())).public_info();
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(refused.message, "It is frozen.");

        let denied = AppError::from(Rejection::Denied(
            "You need the deployer role on QA.".into(),
        ));
        assert_eq!(denied.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            denied.public_info().message,
            "You need the deployer role on QA."
        );

        assert_eq!(
            AppError::from(Rejection::NotFound).status_code(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AppError::from(Rejection::Db(diesel::result::Error::NotFound)).status_code(),
            StatusCode::NOT_FOUND
        );
    }
}
