//! The outermost middleware: gives each request an id (`X-Request-Id`),
//! opens the request's scope (what the session's load read, the connection
//! it kept), renders every error as a page (or JSON under `/api/`) in one
//! place, adds the security headers, and logs one line per request with
//! method, path, status, time and id.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use askama::Template;

use super::security_headers::{self, HeaderPolicy};
use crate::auth::session_store;
use crate::db::RequestDatabase;
use crate::error::{AppError, ErrorInfo};
use crate::views::PageCtx;
use crate::views::error::ErrorPage;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn handle(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = crate::crypto::random::token_hex(8);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    let policy = req
        .app_data::<web::Data<HeaderPolicy>>()
        .map_or(HeaderPolicy { secure: false }, |p| *p.get_ref());

    // NUL in the address is refused before any handler reads it.
    let early = crate::input::extract::uri_problem(req.uri());
    // GET and HEAD have no body to wait for: they may keep their
    // connection from the session's load to the page's work.
    let may_keep_connection = matches!(method, Method::GET | Method::HEAD);
    let (called, database) = match early {
        Some(err) => (Ok(req.error_response(err)), RequestDatabase::default()),
        None => {
            let handling = session_store::request_scope(next.call(req));
            let (called, database) = crate::db::request_scope(may_keep_connection, handling).await;
            (called.map(ServiceResponse::map_into_boxed_body), database)
        }
    };
    let (status, outcome) = match called {
        Ok(res) => {
            let mut res = render_error(res, &request_id);
            finish_headers(res.headers_mut(), policy, &request_id);
            (res.status(), Ok(res))
        }
        // Errors raised by inner middleware (the session store, when the
        // database is away) arrive as `Err`, with the request gone: render
        // them without the signed-in user.
        Err(err) => {
            let status = if database.unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                err.as_response_error().status_code()
            };
            tracing::error!(request_id = %request_id, error = ?err, "request failed outside a handler");
            let rendered = RenderedError {
                status,
                request_id: request_id.clone(),
                is_api: answers_json(&path),
                policy,
            };
            (status, Err(rendered.into()))
        }
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    // `?` (Debug) escapes control characters: no log injection via paths.
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = ?path,
        status = status.as_u16(),
        elapsed_ms = format!("{elapsed_ms:.1}"),
        "request"
    );
    outcome
}

/// Whether errors are answered as JSON: the API, and the JSON documents
/// pages poll (the live log), whose script reads the answer.
fn answers_json(path: &str) -> bool {
    path.starts_with("/api/")
        || std::path::Path::new(path)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
}

fn finish_headers(headers: &mut header::HeaderMap, policy: HeaderPolicy, request_id: &str) {
    security_headers::apply(headers, policy);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
}

/// What the user is told for a status that did not come from `AppError`.
fn info_for_status(status: StatusCode) -> ErrorInfo {
    let err = match status {
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable(anyhow::anyhow!("unavailable")),
        _ => AppError::Internal(anyhow::anyhow!("internal")),
    };
    ErrorInfo {
        status,
        ..err.public_info()
    }
}

/// Replaces the empty body of an error response with the page or JSON.
fn render_error(res: ServiceResponse<BoxBody>, request_id: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let attached = res.response().extensions().get::<ErrorInfo>().cloned();
    let info = match attached {
        Some(info) => info,
        // actix answers an oversized body (read as bytes) itself, in plain
        // text: give it the page or the JSON like any other error.
        None if status.is_server_error() || status == StatusCode::PAYLOAD_TOO_LARGE => {
            info_for_status(status)
        }
        None => return res,
    };
    let (req, response) = res.into_parts();
    let is_api = answers_json(req.path());
    if status == StatusCode::SEE_OTHER && !is_api {
        // The sign-in redirect: keep as is.
        return ServiceResponse::new(req, response);
    }
    // Under the API, "sign in first" is 401, not a redirect.
    let status = if status == StatusCode::SEE_OTHER {
        StatusCode::UNAUTHORIZED
    } else {
        info.status
    };
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::LOCATION
        {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    let page = (!is_api).then(|| PageCtx::for_error(&req, info.title));
    let new_response = error_body(&mut builder, status, &info, page, request_id);
    ServiceResponse::new(req, new_response)
}

/// The body of every error answer: JSON when `page` is `None`, HTML otherwise.
fn error_body(
    builder: &mut actix_web::HttpResponseBuilder,
    status: StatusCode,
    info: &ErrorInfo,
    page: Option<PageCtx>,
    request_id: &str,
) -> HttpResponse {
    match page {
        None => builder.json(serde_json::json!({
            "error": crate::error::code_for(status),
            "message": info.message,
            "field": null,
            "request_id": request_id,
        })),
        Some(page) => {
            let html = ErrorPage {
                page,
                status: status.as_u16(),
                message: info.message.clone(),
                request_id: request_id.to_owned(),
            }
            .render()
            .unwrap_or_else(|_| format!("{} {}", status.as_u16(), info.title));
            builder.content_type("text/html; charset=utf-8").body(html)
        }
    }
}

/// An error from inner middleware, answered with the same page.
#[derive(Debug, thiserror::Error)]
#[error("request failed with {status}")]
struct RenderedError {
    status: StatusCode,
    request_id: String,
    is_api: bool,
    policy: HeaderPolicy,
}

impl ResponseError for RenderedError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let info = info_for_status(self.status);
        let page = (!self.is_api).then(|| PageCtx {
            title: info.title.to_owned(),
            ..PageCtx::default()
        });
        let mut response = error_body(
            &mut HttpResponse::build(self.status),
            self.status,
            &info,
            page,
            &self.request_id,
        );
        finish_headers(response.headers_mut(), self.policy, &self.request_id);
        response
    }
}
