//! Cross-cutting request handling: request ids, the one log line per request,
//! error pages, and security headers.

pub mod requests;
pub mod security_headers;
