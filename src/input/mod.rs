//! The one place that turns what the network sends into safe values.
//!
//! PostgreSQL refuses NUL in text and timestamps outside its range, a
//! process cannot take NUL in its environment, and control characters and
//! bidi overrides in names or logs mislead whoever reads them. Rather than
//! each handler guarding against that, every request passes through here:
//!
//! - [`text`]: which characters a field may hold, and escaping for logs;
//! - [`dates`]: dates and times, bounded to the years 1970–9999;
//! - [`limits`]: body limits derived from the documented limits in characters;
//! - [`extract`]: what the extractors answer when input cannot be read — NUL
//!   in a form, path or query, a malformed or duplicated parameter — always
//!   through `AppError`, so the normal error pages render it.

pub mod dates;
pub mod extract;
pub mod limits;
pub mod text;
