//! The CSRF token of someone not signed in (the login form), kept in one of
//! the app's sealed cookies ([`super::app_cookie`]) instead of a session, so
//! that visiting the login page stores nothing on the server: before, every
//! cookie-less `GET /login` wrote a session row, which let anyone fill the
//! table.
//!
//! Only this server can have made the cookie, and no other site's form
//! carries it (`SameSite=Strict`). The form echoes the token and
//! [`crate::auth::csrf::CsrfForm`] compares them, as it does with a
//! session's token. At sign-in the session gets a token of its own and this
//! cookie is removed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::app_cookie::{AppCookies, CookieName};

const NAME: CookieName = CookieName {
    secure: "__Host-stagecoach-login",
    plain: "stagecoach-login",
};

/// A token made during this request, to be sent as a cookie.
#[derive(Clone)]
struct Fresh(String);

fn cookies(req: &HttpRequest) -> Option<web::Data<AppCookies>> {
    req.app_data::<web::Data<AppCookies>>().cloned()
}

/// The visitor's token: the one their cookie carries, or a new one that
/// [`send_cookie`] will set on the response.
pub fn token(req: &HttpRequest) -> String {
    if let Some(token) = existing(req) {
        return token;
    }
    let token = crate::crypto::random::token_hex(32);
    req.extensions_mut().insert(Fresh(token.clone()));
    token
}

/// The token the visitor already holds (or was given in this request).
pub fn existing(req: &HttpRequest) -> Option<String> {
    if let Some(Fresh(token)) = req.extensions().get::<Fresh>() {
        return Some(token.clone());
    }
    cookies(req)?.read(req, NAME)
}

/// Middleware: sets the cookie when a token was made for this request.
pub async fn send_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let fresh = res.request().extensions().get::<Fresh>().cloned();
    if let (Some(Fresh(token)), Some(cookies)) = (fresh, cookies(res.request())) {
        res.response_mut()
            .add_cookie(&cookies.sealed(NAME, &token))?;
    }
    Ok(res)
}

/// Removes the cookie (at sign-in, when the session takes over).
pub fn forget(req: &HttpRequest, response: &mut HttpResponse) {
    let Some(cookies) = cookies(req) else {
        return;
    };
    if cookies.present(req, NAME) {
        let _ = response.add_cookie(&cookies.removal(NAME));
    }
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::{Cookie, Key};
    use actix_web::test::TestRequest;

    use super::*;

    fn app_data() -> AppCookies {
        AppCookies::new(Key::derive_from(&[7; 64]), false)
    }

    #[test]
    fn the_cookie_round_trips_and_a_forged_one_is_ignored() {
        let cookies = app_data();
        let cookie = cookies.sealed(NAME, "abc123");
        let req = TestRequest::get()
            .app_data(web::Data::new(cookies.clone()))
            .cookie(cookie)
            .to_http_request();
        assert_eq!(existing(&req).as_deref(), Some("abc123"));
        assert_eq!(token(&req), "abc123");

        let forged = TestRequest::get()
            .app_data(web::Data::new(cookies.clone()))
            .cookie(Cookie::new("stagecoach-login", "abc123"))
            .to_http_request();
        assert_eq!(existing(&forged), None);
        let fresh = token(&forged);
        assert_ne!(fresh, "abc123");
        assert_eq!(fresh.len(), 64);
        assert_eq!(existing(&forged), Some(fresh), "stable within the request");
    }
}
