//! Stagecoach: release management. A release is cut in the first environment
//! and promoted, environment by environment, towards production.
//!
//! Layers, arrows pointing down only: `routes` (HTTP) use `domain` (rules,
//! one transaction each, audit inside), which uses `db` and `crypto`.
//! `auth` holds the web's side of sessions, CSRF and the current user;
//! `views` the page templates. `layers.rs` checks the arrows; ARCHITECTURE.md
//! is the tour. Lints are set in Cargo.toml.

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
mod layers;
pub mod memory;
pub mod middleware;
#[cfg(test)]
mod properties;
pub mod ranges;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod urls;
pub mod views;
pub mod worker;
