//! Cookies only this server can make or read: the login form's CSRF token
//! ([`super::login_csrf`]) and the messages for the next page
//! ([`super::flash`]). Both keep per-visitor state in the browser instead
//! of the database, so neither costs a write.
//!
//! Each is encrypted and authenticated with the app's key (a forged or
//! altered cookie reads as absent, and its content is not readable in the
//! browser); `SameSite=Strict`, so no other site's request carries it;
//! `HttpOnly`; and `__Host-` prefixed with secure cookies, so a sibling
//! subdomain cannot plant one.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};

/// The key and the cookie policy; in the app's data.
#[derive(Clone)]
pub struct AppCookies {
    key: Key,
    secure: bool,
}

/// One of the app's cookies: its name with and without the `__Host-` prefix.
#[derive(Debug, Clone, Copy)]
pub struct CookieName {
    pub secure: &'static str,
    pub plain: &'static str,
}

impl AppCookies {
    pub fn new(key: Key, secure: bool) -> Self {
        Self { key, secure }
    }

    fn name(&self, name: CookieName) -> &'static str {
        if self.secure { name.secure } else { name.plain }
    }

    fn cookie(&self, name: CookieName, value: String) -> Cookie<'static> {
        Cookie::build(self.name(name), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .finish()
    }

    /// The value of `name` in `req`, if this server made it.
    pub fn read(&self, req: &HttpRequest, name: CookieName) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(self.name(name))?);
        let opened = jar.private(&self.key).get(self.name(name))?;
        Some(opened.value().to_owned())
    }

    /// Whether `req` carries a cookie called `name`, readable or not.
    pub fn present(&self, req: &HttpRequest, name: CookieName) -> bool {
        req.cookie(self.name(name)).is_some()
    }

    /// The cookie that sets `name` to `value`, sealed.
    #[allow(
        clippy::expect_used,
        reason = "read back from the jar it was added to on the line before"
    )]
    pub fn sealed(&self, name: CookieName, value: &str) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(self.cookie(name, value.to_owned()));
        jar.get(self.name(name))
            .cloned()
            .expect("the cookie was just added")
    }

    /// The cookie that removes `name` (same path and flags, so it matches).
    pub fn removal(&self, name: CookieName) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new());
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    const NAME: CookieName = CookieName {
        secure: "__Host-test",
        plain: "test",
    };

    fn cookies(secure: bool) -> AppCookies {
        AppCookies::new(Key::derive_from(&[7; 64]), secure)
    }

    #[test]
    fn a_sealed_cookie_opens_and_a_forged_or_foreign_one_does_not() {
        let made = cookies(false).sealed(NAME, "abc123");
        assert!(!made.value().contains("abc123"), "the value is encrypted");
        let req = TestRequest::get().cookie(made.clone()).to_http_request();
        assert_eq!(cookies(false).read(&req, NAME).as_deref(), Some("abc123"));

        let other_key = AppCookies::new(Key::derive_from(&[9; 64]), false);
        assert_eq!(other_key.read(&req, NAME), None, "another key's cookie");

        let forged = TestRequest::get()
            .cookie(Cookie::new("test", "abc123"))
            .to_http_request();
        assert_eq!(cookies(false).read(&forged, NAME), None);
        assert!(cookies(false).present(&forged, NAME));
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_host_prefixed_when_secure() {
        let plain = cookies(false).sealed(NAME, "x");
        assert_eq!(plain.name(), "test");
        assert_eq!(plain.same_site(), Some(SameSite::Strict));
        assert_eq!(plain.http_only(), Some(true));
        assert_eq!(plain.path(), Some("/"));
        let secure = cookies(true).sealed(NAME, "x");
        assert_eq!(secure.name(), "__Host-test");
        assert_eq!(secure.secure(), Some(true));
        assert_eq!(secure.domain(), None);
        let removal = cookies(true).removal(NAME);
        assert_eq!(removal.name(), "__Host-test");
        assert_eq!(removal.path(), Some("/"));
        assert!(
            removal
                .max_age()
                .is_some_and(actix_web::cookie::time::Duration::is_zero)
        );
    }
}
