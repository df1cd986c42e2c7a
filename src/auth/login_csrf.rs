//! The CSRF token of someone not signed in (the login form), kept in a
//! signed cookie instead of a session, so that visiting the login page
//! stores nothing on the server: before, every cookie-less `GET /login`
//! wrote a session row, which let anyone fill the table.
//!
//! The cookie is signed with the app's key, so only this server can have
//! made it; `SameSite=Strict`, so no other site's form carries it; and
//! `__Host-` prefixed with secure cookies, so a sibling subdomain cannot
//! plant one. The form echoes the token and [`crate::auth::csrf::CsrfForm`]
//! compares them, as it does with a session's token. At sign-in the session
//! gets a token of its own and this cookie is removed.

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

/// How the cookie is made; in the app's data.
#[derive(Clone)]
pub struct LoginCsrf {
    key: Key,
    secure: bool,
}

impl LoginCsrf {
    pub fn new(key: Key, secure: bool) -> Self {
        Self { key, secure }
    }

    fn name(&self) -> &'static str {
        if self.secure {
            "__Host-stagecoach-login"
        } else {
            "stagecoach-login"
        }
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(self.name(), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .finish()
    }

    /// The token in `req`'s cookie, if its signature holds.
    fn verified_token(&self, req: &HttpRequest) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(self.name())?);
        let verified = jar.signed(&self.key).get(self.name())?;
        Some(verified.value().to_owned())
    }

    fn signed(&self, token: &str) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(self.cookie(token.to_owned()));
        jar.get(self.name())
            .cloned()
            .expect("the cookie was just added")
    }
}

/// A token made during this request, to be sent as a cookie.
#[derive(Clone)]
struct Fresh(String);

fn config(req: &HttpRequest) -> Option<web::Data<LoginCsrf>> {
    req.app_data::<web::Data<LoginCsrf>>().cloned()
}

/// The visitor's token: the one their cookie carries, or a new one that
/// [`send_cookie`] will set on the response.
pub fn token(req: &HttpRequest) -> String {
    if let Some(token) = existing(req) {
        return token;
    }
    let token = super::random::token_hex(32);
    req.extensions_mut().insert(Fresh(token.clone()));
    token
}

/// The token the visitor already holds (or was given in this request).
pub fn existing(req: &HttpRequest) -> Option<String> {
    if let Some(Fresh(token)) = req.extensions().get::<Fresh>() {
        return Some(token.clone());
    }
    config(req)?.verified_token(req)
}

/// Middleware: sets the cookie when a token was made for this request.
pub async fn send_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let fresh = res.request().extensions().get::<Fresh>().cloned();
    if let (Some(Fresh(token)), Some(config)) = (fresh, config(res.request())) {
        res.response_mut().add_cookie(&config.signed(&token))?;
    }
    Ok(res)
}

/// Removes the cookie (at sign-in, when the session takes over).
pub fn forget(req: &HttpRequest, response: &mut HttpResponse) {
    let Some(config) = config(req) else {
        return;
    };
    if req.cookie(config.name()).is_some() {
        let _ = response.add_removal_cookie(&config.cookie(String::new()));
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn app_data() -> LoginCsrf {
        LoginCsrf::new(Key::derive_from(&[7; 64]), false)
    }

    #[test]
    fn a_signed_cookie_round_trips_and_a_forged_one_is_ignored() {
        let csrf = app_data();
        let cookie = csrf.signed("abc123");
        assert_ne!(cookie.value(), "abc123", "the value carries a signature");
        let req = TestRequest::get()
            .app_data(web::Data::new(csrf.clone()))
            .cookie(cookie)
            .to_http_request();
        assert_eq!(existing(&req).as_deref(), Some("abc123"));
        assert_eq!(token(&req), "abc123");

        let forged = TestRequest::get()
            .app_data(web::Data::new(csrf.clone()))
            .cookie(Cookie::new("stagecoach-login", "abc123"))
            .to_http_request();
        assert_eq!(existing(&forged), None);
        let fresh = token(&forged);
        assert_ne!(fresh, "abc123");
        assert_eq!(fresh.len(), 64);
        assert_eq!(existing(&forged), Some(fresh), "stable within the request");
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_host_prefixed_when_secure() {
        let plain = app_data().cookie("x".into());
        assert_eq!(plain.name(), "stagecoach-login");
        assert_eq!(plain.same_site(), Some(SameSite::Strict));
        assert_eq!(plain.http_only(), Some(true));
        assert_eq!(plain.path(), Some("/"));
        let secure = LoginCsrf::new(Key::derive_from(&[8; 64]), true).cookie("x".into());
        assert_eq!(secure.name(), "__Host-stagecoach-login");
        assert_eq!(secure.secure(), Some(true));
        assert_eq!(secure.domain(), None);
    }
}
