//! A typed view of the session, so handlers never touch string keys.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};

use super::session_store::USER_ID_KEY;

const CSRF_KEY: &str = "csrf_token";
const FLASH_KEY: &str = "flashes";
/// Messages kept for the next page. A client that never follows its
/// redirects (a script posting forms) would otherwise grow the stored
/// session with every POST.
const MOST_FLASHES: usize = 5;

/// Adds `flash`, dropping the oldest beyond [`MOST_FLASHES`].
fn push_flash(flashes: &mut Vec<Flash>, flash: Flash) {
    flashes.push(flash);
    let excess = flashes.len().saturating_sub(MOST_FLASHES);
    flashes.drain(..excess);
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlashKind {
    Success,
    Info,
    Error,
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

impl Flash {
    pub fn css_class(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Info => "flash flash-info",
            FlashKind::Error => "flash flash-error",
        }
    }
}

/// The session, and the request it belongs to: a visitor who is not
/// signed in keeps their CSRF token in a cookie (see [`super::login_csrf`]),
/// not in the session, so that nothing is stored for them.
pub struct TypedSession(Session, HttpRequest);

impl TypedSession {
    pub fn user_id(&self) -> Option<i64> {
        self.0.get::<i64>(USER_ID_KEY).ok().flatten()
    }

    /// Starts an authenticated session: a new session id (the old one is
    /// deleted from the store), the user, and a fresh CSRF token.
    pub fn log_in(&self, user_id: i64) -> anyhow::Result<()> {
        self.0.renew();
        self.0.insert(USER_ID_KEY, user_id)?;
        self.0.insert(CSRF_KEY, super::random::token_hex(32))?;
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
        let token = super::random::token_hex(32);
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

    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        let mut flashes = self.peek_flashes();
        push_flash(
            &mut flashes,
            Flash {
                kind,
                message: message.into(),
            },
        );
        if let Err(err) = self.0.insert(FLASH_KEY, flashes) {
            tracing::warn!("storing flash: {err}");
        }
    }

    /// Returns and clears the pending flashes.
    pub fn take_flashes(&self) -> Vec<Flash> {
        let flashes = self.peek_flashes();
        if !flashes.is_empty() {
            self.0.remove(FLASH_KEY);
        }
        flashes
    }

    fn peek_flashes(&self) -> Vec<Flash> {
        self.0
            .get::<Vec<Flash>>(FLASH_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session(), req.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_flashes_are_kept() {
        let mut flashes = Vec::new();
        for n in 0..12 {
            push_flash(
                &mut flashes,
                Flash {
                    kind: FlashKind::Info,
                    message: format!("message {n}"),
                },
            );
        }
        let kept: Vec<&str> = flashes.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            kept,
            [
                "message 7",
                "message 8",
                "message 9",
                "message 10",
                "message 11"
            ]
        );
    }
}
