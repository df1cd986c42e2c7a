//! One-time messages for the next page ("Release 1.4.0 created"), kept in
//! one of the app's sealed cookies ([`super::app_cookie`]).
//!
//! They used to live in the stored session, so every form POST committed
//! twice (its change, then the session's new state) and the page after it
//! wrote a third time to clear them. In the cookie, a POST commits once and
//! a GET writes nothing. The cookie is encrypted, so what a message says is
//! not readable in the browser's storage.

use std::cell::RefCell;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use serde::{Deserialize, Serialize};

use super::app_cookie::{AppCookies, CookieName};

const NAME: CookieName = CookieName {
    secure: "__Host-stagecoach-flash",
    plain: "stagecoach-flash",
};

/// Messages kept for the next page: a client that never follows its
/// redirects (a script posting forms) keeps only the newest.
const MOST_FLASHES: usize = 5;

/// The most JSON the cookie holds: sealed and encoded it grows by about a
/// third plus 40 bytes, and browsers keep cookies up to 4,096 bytes.
const MOST_BYTES: usize = 2_800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlashKind {
    Success,
    Info,
    Error,
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// What this request did with the messages, for [`send_cookie`].
#[derive(Default)]
struct Pending {
    /// The cookie's messages were shown on this response.
    taken: bool,
    added: Vec<Flash>,
}

fn cookies(req: &HttpRequest) -> Option<web::Data<AppCookies>> {
    req.app_data::<web::Data<AppCookies>>().cloned()
}

/// The messages `req`'s cookie carries (none if it is absent or not ours).
fn carried(req: &HttpRequest) -> Vec<Flash> {
    cookies(req)
        .and_then(|cookies| cookies.read(req, NAME))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

fn with_pending<T>(req: &HttpRequest, f: impl FnOnce(&mut Pending) -> T) -> T {
    let mut extensions = req.extensions_mut();
    if let Some(pending) = extensions.get::<RefCell<Pending>>() {
        return f(&mut pending.borrow_mut());
    }
    let mut pending = Pending::default();
    let out = f(&mut pending);
    extensions.insert(RefCell::new(pending));
    out
}

/// Adds a message for the next page.
pub fn add(req: &HttpRequest, kind: FlashKind, message: impl Into<String>) {
    let flash = Flash {
        kind,
        message: message.into(),
    };
    with_pending(req, |pending| pending.added.push(flash));
}

/// The messages for this page; they are gone after it.
pub fn take(req: &HttpRequest) -> Vec<Flash> {
    let already = with_pending(req, |pending| std::mem::replace(&mut pending.taken, true));
    if already {
        return Vec::new();
    }
    carried(req)
}

/// What the cookie should hold after this request: what it carried (unless
/// shown), then what was added, the newest kept within the limits.
fn next_value(mut carried: Vec<Flash>, added: Vec<Flash>) -> Option<String> {
    carried.extend(added);
    let excess = carried.len().saturating_sub(MOST_FLASHES);
    carried.drain(..excess);
    loop {
        let json = serde_json::to_string(&carried).ok()?;
        if json.len() <= MOST_BYTES {
            return (!carried.is_empty()).then_some(json);
        }
        if carried.len() > 1 {
            carried.remove(0);
        } else {
            // One message longer than the cookie holds: shorten it.
            let message = &mut carried[0].message;
            let excess = json.len() - MOST_BYTES;
            let mut end = message.len().saturating_sub(excess + '…'.len_utf8());
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
    }
}

/// Middleware: writes the messages added during the request into the
/// cookie, or removes the cookie once its messages were shown.
pub async fn send_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let request = res.request().clone();
    let Some(cookies) = cookies(&request) else {
        return Ok(res);
    };
    let pending = request
        .extensions_mut()
        .remove::<RefCell<Pending>>()
        .map(RefCell::into_inner)
        .unwrap_or_default();
    let present = cookies.present(&request, NAME);
    if pending.added.is_empty() {
        if pending.taken && present {
            res.response_mut().add_cookie(&cookies.removal(NAME))?;
        }
        return Ok(res);
    }
    let kept = if pending.taken {
        Vec::new()
    } else {
        carried(&request)
    };
    let cookie = match next_value(kept, pending.added) {
        Some(json) => cookies.sealed(NAME, &json),
        None => cookies.removal(NAME),
    };
    res.response_mut().add_cookie(&cookie)?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(message: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Info,
            message: message.into(),
        }
    }

    fn messages(json: &str) -> Vec<String> {
        serde_json::from_str::<Vec<Flash>>(json)
            .unwrap()
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn only_the_newest_flashes_are_kept() {
        let carried = (0..4).map(|n| info(format!("message {n}"))).collect();
        let added = (4..12).map(|n| info(format!("message {n}"))).collect();
        let json = next_value(carried, added).unwrap();
        assert_eq!(
            messages(&json),
            [
                "message 7",
                "message 8",
                "message 9",
                "message 10",
                "message 11"
            ]
        );
    }

    #[test]
    fn the_cookie_stays_within_what_a_browser_keeps() {
        let long = "é".repeat(1_000);
        let json = next_value(vec![info(&long), info(&long)], vec![info("new")]).unwrap();
        assert!(json.len() <= MOST_BYTES, "{}", json.len());
        assert_eq!(messages(&json).last().map(String::as_str), Some("new"));

        let huge = "x".repeat(10_000);
        let json = next_value(Vec::new(), vec![info(huge)]).unwrap();
        assert!(json.len() <= MOST_BYTES, "{}", json.len());
        assert!(messages(&json)[0].ends_with('…'));

        let sealed = AppCookies::new(actix_web::cookie::Key::generate(), true).sealed(NAME, &json);
        assert!(
            sealed.to_string().len() <= 4_096,
            "{}",
            sealed.to_string().len()
        );
    }

    #[test]
    fn nothing_to_keep_means_no_cookie() {
        assert_eq!(next_value(Vec::new(), Vec::new()), None);
    }
}
