//! CSRF protection for every POST form: a synchronizer token kept in the
//! server-side session (for a visitor not signed in, in a signed cookie: see
//! [`super::login_csrf`]) and echoed in a hidden `csrf_token` field, compared
//! in constant time, plus a same-site check of `Origin` / `Sec-Fetch-Site`
//! when the browser sends them ([`super::site`] says what this site is). Handlers take [`CsrfForm<T>`] instead of
//! `web::Form<T>`, so no POST handler can forget the check.

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

/// Largest form body accepted; larger ones get 413.
pub const FORM_LIMIT: usize = 64 * 1024;

/// A url-encoded form whose CSRF token and origin have been checked.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

/// For forms with no fields but the token (logout, confirmations).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
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
                .map(|(_, value)| value.as_str())
                .unwrap_or("");
            let session = TypedSession::extract(&req)
                .await
                .map_err(|_| AppError::Csrf)?;
            let expected = session.existing_csrf_token().unwrap_or_default();
            if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
                tracing::warn!("POST refused: CSRF token missing or wrong");
                return Err(AppError::Csrf);
            }
            let form = serde_urlencoded::from_bytes::<T>(&body).map_err(|err| {
                AppError::BadRequest(format!("The form could not be read: {err}."))
            })?;
            Ok(CsrfForm(form))
        })
    }
}

/// True unless the browser says the request came from another site.
pub fn same_site(req: &HttpRequest) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site") {
        match site.to_str() {
            Ok("same-origin") | Ok("none") => {}
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
