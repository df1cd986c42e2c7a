//! CSRF protection for every POST form: a synchronizer token kept in the
//! server-side session (for a visitor not signed in, in a signed cookie: see
//! [`super::login_csrf`]) and echoed in a hidden `csrf_token` field, compared
//! in constant time, plus a same-site check of `Origin` / `Sec-Fetch-Site`
//! when the browser sends them ([`super::site`] says what this site is).
//! Handlers take [`CsrfForm<T>`] instead of `web::Form<T>`, so no POST
//! handler can forget the check — nor the
//! refusal of NUL, which this extractor applies to every field (see
//! [`crate::input`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::session::TypedSession;
use super::site::Site;
use crate::error::AppError;
use crate::input::extract::{form_error, refuse_nul};

/// A url-encoded form whose CSRF token and origin have been checked, and
/// none of whose fields holds NUL. The body limit is the route's
/// `PayloadConfig` (see [`crate::input::limits`]); larger bodies get 413.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

/// Like [`CsrfForm`], but NUL reaches the handler: for the sign-in form
/// only, since an attempt with any username must be refused *and audited*
/// like every other (the handler escapes the name before it is stored).
#[derive(Debug)]
pub struct CsrfFormKeepingNul<T>(pub T);

/// For forms with no fields but the token (logout, confirmations).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = read_form::<T>(req, payload, true);
        Box::pin(async move { form.await.map(CsrfForm) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfFormKeepingNul<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = read_form::<T>(req, payload, false);
        Box::pin(async move { form.await.map(CsrfFormKeepingNul) })
    }
}

/// Reads the body, checks origin and token, then (unless told not to)
/// refuses NUL, then reads the fields into `T`.
fn read_form<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    nul_refused: bool,
) -> Pin<Box<dyn Future<Output = Result<T, AppError>>>> {
    let req = req.clone();
    let body = Bytes::from_request(&req, payload);
    Box::pin(async move {
        let body = body.await.map_err(|err| {
            if err.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("The form could not be read.".to_owned())
            }
        })?;
        if !same_site(&req) {
            tracing::warn!("POST refused: cross-site origin");
            return Err(AppError::Csrf);
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|_| AppError::BadRequest("The form could not be read.".to_owned()))?;
        let sent = pairs
            .iter()
            .find(|(name, _)| name == "csrf_token")
            .map_or("", |(_, value)| value.as_str());
        let session = TypedSession::extract(&req)
            .await
            .map_err(|_| AppError::Csrf)?;
        let expected = session.existing_csrf_token().unwrap_or_default();
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
            tracing::warn!("POST refused: CSRF token missing or wrong");
            return Err(AppError::Csrf);
        }
        if nul_refused {
            refuse_nul(&pairs)?;
        }
        serde_urlencoded::from_bytes::<T>(&body).map_err(|err| form_error(&err.to_string()))
    })
}

/// True unless the browser says the request came from another site.
pub fn same_site(req: &HttpRequest) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site") {
        match site.to_str() {
            Ok("same-origin" | "none") => {}
            _ => return false,
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if !Site::of(req).is_this_site(req, origin) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::same_site;

    #[test]
    fn requests_without_browser_headers_pass_the_site_check() {
        let req = TestRequest::post()
            .insert_header(("host", "ci.example:8080"))
            .to_http_request();
        assert!(same_site(&req));
    }

    #[test]
    fn origin_must_name_this_host() {
        let ok = TestRequest::post()
            .insert_header(("host", "ci.example:8080"))
            .insert_header(("origin", "http://ci.example:8080"))
            .to_http_request();
        assert!(same_site(&ok));
        let evil = TestRequest::post()
            .insert_header(("host", "ci.example:8080"))
            .insert_header(("origin", "http://evil.example"))
            .to_http_request();
        assert!(!same_site(&evil));
        let null = TestRequest::post()
            .insert_header(("host", "ci.example:8080"))
            .insert_header(("origin", "null"))
            .to_http_request();
        assert!(!same_site(&null));
    }

    #[test]
    fn forwarding_headers_do_not_make_another_origin_this_site() {
        for (name, value) in [
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "host=evil.example"),
        ] {
            let req = TestRequest::post()
                .insert_header(("host", "ci.example:8080"))
                .insert_header(("origin", "http://evil.example"))
                .insert_header((name, value))
                .to_http_request();
            assert!(!same_site(&req), "{name}");
        }
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        let req = TestRequest::post()
            .insert_header(("host", "a"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert!(!same_site(&req));
        let req = TestRequest::post()
            .insert_header(("host", "a"))
            .insert_header(("sec-fetch-site", "same-site"))
            .to_http_request();
        assert!(!same_site(&req));
    }
}
