//! Stagecoach: release management. A release is cut in the first environment
//! and promoted, environment by environment, towards production.
//!
//! Layers, arrows pointing down only: `routes` (HTTP) use `domain` (rules,
//! one transaction each, audit inside), which uses `db`. `auth` holds the
//! session store, CSRF and the current user; `views` the page templates.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod input;
pub mod memory;
pub mod middleware;
pub mod ranges;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod views;
pub mod worker;
