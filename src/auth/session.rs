//! A typed view of the session, so handlers never touch string keys.

use crate::domain::ids::UserId;
use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use super::flash::{Flash, FlashKind};
use super::session_store::USER_ID_KEY;

const CSRF_KEY: &str = "csrf_token";

/// The session, and the request it belongs to: a visitor who is not
/// signed in keeps their CSRF token in a cookie (see [`super::login_csrf`]),
/// not in the session, so that nothing is stored for them.
pub struct TypedSession(Session, HttpRequest);

impl TypedSession {
    pub fn user_id(&self) -> Option<UserId> {
        self.0.get::<UserId>(USER_ID_KEY).ok().flatten()
    }

    /// Starts an authenticated session: a new session id (the old one is
    /// deleted from the store), the user, and a fresh CSRF token.
    pub fn log_in(&self, user_id: UserId) -> anyhow::Result<()> {
        self.0.renew();
        self.0.insert(USER_ID_KEY, user_id)?;
        self.0
            .insert(CSRF_KEY, crate::crypto::random::token_hex(32))?;
        Ok(())
    }

    /// Ends the session: deleted from the store, cookie removed.
    pub fn log_out(&self) {
        self.0.purge();
    }

    /// The CSRF token for this visitor's forms, created on first use (32
    /// random bytes): the session's when signed in, else the login cookie's.
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.session_csrf_token() {
            return token;
        }
        if self.user_id().is_none() {
            return super::login_csrf::token(&self.1);
        }
        let token = crate::crypto::random::token_hex(32);
        if let Err(err) = self.0.insert(CSRF_KEY, &token) {
            tracing::warn!("storing CSRF token: {err}");
        }
        token
    }

    /// The token a POST must carry, if this visitor has one.
    pub fn existing_csrf_token(&self) -> Option<String> {
        match self.session_csrf_token() {
            Some(token) => Some(token),
            None if self.user_id().is_none() => super::login_csrf::existing(&self.1),
            None => None,
        }
    }

    fn session_csrf_token(&self) -> Option<String> {
        self.0.get::<String>(CSRF_KEY).ok().flatten()
    }

    /// Adds a message for the next page (see [`super::flash`]).
    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        super::flash::add(&self.1, kind, message);
    }

    /// The messages for this page; they are gone after it.
    pub fn take_flashes(&self) -> Vec<Flash> {
        super::flash::take(&self.1)
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session(), req.clone())))
    }
}
