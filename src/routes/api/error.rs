//! How the API says no: `{"error": code, "message": text, "field": name|null}`
//! with the status that fits, plus every field's message when a body was
//! not valid (`errors`) and, when a rule refused a deployment, the
//! readiness checklist that says why (`readiness`). Built from the domain's
//! rejections and the web layer's `AppError` in one place, so a refusal
//! reads the same here as on the pages.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::ReadinessCheck;
use crate::db::RunError;
use crate::domain::access::{AccessError, Denied};
use crate::domain::rejection::Rejection;
use crate::domain::validation::FieldErrors;
use crate::error::{AppError, code_for};

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable code a client can match on: bad_request, unauthorized,
    /// forbidden, not_found, conflict, refused, invalid,
    /// idempotency_key_reused, too_large, unavailable, internal…
    pub error: &'static str,
    pub message: String,
    // The rest, boxed: an error travels through every `Result` of the API.
    #[serde(flatten)]
    detail: Box<Detail>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = ApiErrorDetail)]
struct Detail {
    /// The field the message is about, when there is one.
    field: Option<String>,
    /// Every field's message, when a body was not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<std::collections::BTreeMap<String, String>>,
    /// When a rule refused a deployment: the checklist that says why.
    #[serde(skip_serializing_if = "Option::is_none")]
    readiness: Option<Vec<ReadinessCheck>>,
    /// Kept for the logs, never sent.
    #[serde(skip)]
    cause: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error,
            self.message
        )?;
        if let Some(cause) = &self.detail.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            detail: Box::default(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send a valid API token: Authorization: Bearer stgc_…",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing here, or this token may not see it.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A body that was read but is not valid, field by field (422).
    pub fn invalid(errors: &FieldErrors) -> Self {
        let mut all = std::collections::BTreeMap::new();
        let mut first = None;
        for (field, message) in errors.iter() {
            first.get_or_insert_with(|| (field.to_owned(), message.to_owned()));
            all.entry(field.to_owned())
                .or_insert_with(|| message.to_owned());
        }
        let (field, message) =
            first.unwrap_or_else(|| (String::new(), "The request is not valid.".to_owned()));
        let mut err = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        err.detail.field = (!field.is_empty()).then_some(field);
        err.detail.errors = Some(all);
        err
    }

    pub fn with_field(mut self, field: &str) -> Self {
        self.detail.field = Some(field.to_owned());
        self
    }

    pub fn with_readiness(mut self, readiness: Vec<ReadinessCheck>) -> Self {
        self.detail.readiness = Some(readiness);
        self
    }

    fn internal(cause: impl std::fmt::Display) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An unexpected error stopped this request. Nothing was changed.",
        );
        err.detail.cause = Some(cause.to_string());
        err
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(error = %self, "API request failed");
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        let mut response = response.json(self);
        // A 503 says which: the database is away, or takes no writes. The
        // request middleware renders server errors from what is attached
        // (a 500 keeps its generic text: its message may hold internals).
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.extensions_mut().insert(crate::error::ErrorInfo {
                status: self.status,
                title: "Service unavailable",
                message: self.message.clone(),
            });
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match &err {
            AppError::Internal(cause) => return Self::internal(format!("{cause:#}")),
            AppError::LoginRequired { .. } | AppError::Csrf => return Self::unauthorized(),
            AppError::NotFound => return Self::not_found(),
            _ => {}
        }
        let status = err.status_code();
        let message = err.public_info().message;
        Self::new(status, code_for(status), message)
    }
}

impl From<Rejection> for ApiError {
    fn from(err: Rejection) -> Self {
        match err {
            Rejection::Invalid(errors) => Self::invalid(&errors),
            Rejection::Refused(reason) => Self::new(StatusCode::CONFLICT, "refused", reason),
            Rejection::Denied(missing) => Self::new(StatusCode::FORBIDDEN, "forbidden", missing),
            Rejection::NotFound => Self::not_found(),
            Rejection::Db(err) => AppError::from(err).into(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::Denied(Denied::Hidden) => Self::not_found(),
            AccessError::Denied(Denied::Missing(missing)) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", missing)
            }
            AccessError::Db(err) => AppError::from(err).into(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        AppError::from(err).into()
    }
}

impl<E: Into<ApiError>> From<RunError<E>> for ApiError {
    fn from(err: RunError<E>) -> Self {
        match err {
            RunError::Work(e) => e.into(),
            RunError::Unavailable(e) => AppError::Unavailable(e.into()).into(),
            RunError::Blocking => Self::internal("blocking task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_answer_422_naming_the_first_field_and_all_of_them() {
        let mut errors = FieldErrors::new();
        errors.add("version", "Enter a version.");
        errors.add("title", "Too long.");
        let err = ApiError::invalid(&errors);
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = serde_json::to_value(&err).unwrap();
        assert_eq!(body["error"], "invalid");
        // The field named is one of them, with its own message.
        let field = body["field"].as_str().unwrap();
        assert_eq!(body["message"], body["errors"][field]);
        assert_eq!(body["errors"]["title"], "Too long.");
        assert_eq!(body["errors"]["version"], "Enter a version.");
    }

    #[test]
    fn rejections_map_to_their_statuses() {
        let status = |r: Rejection| ApiError::from(r).status.as_u16();
        assert_eq!(status(Rejection::Refused("no".into())), 409);
        assert_eq!(status(Rejection::Denied("no".into())), 403);
        assert_eq!(status(Rejection::NotFound), 404);
        let body = serde_json::to_value(ApiError::from(Rejection::NotFound)).unwrap();
        assert!(body["field"].is_null());
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn internals_never_reach_the_body() {
        let err = ApiError::from(AppError::internal(anyhow::anyhow!("secret detail")));
        let body = serde_json::to_string(&err).unwrap();
        assert!(!body.contains("secret detail"));
        assert!(err.to_string().contains("secret detail"));
    }
}
