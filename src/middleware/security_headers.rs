//! Security headers on every response, error pages included.

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Whether the app is served over HTTPS (`STAGECOACH_SECURE_COOKIES`); kept
/// in app data so the request middleware knows whether to send HSTS.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    pub secure: bool,
}

const HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// Adds the headers; `Cache-Control: no-store` only where the handler set no
/// caching of its own (static files do).
pub fn apply(headers: &mut HeaderMap, policy: HeaderPolicy) {
    for (name, value) in HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if policy.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}
