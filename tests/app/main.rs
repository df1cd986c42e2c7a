//! One integration binary: the real app on a random port, against a real
//! PostgreSQL, one fresh database per test.

// A failing test is its panic, and pedantic's style rules for the app's
// code would only add noise to its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    reason = "test code"
)]

mod helpers;

mod account;
mod admin;
mod api;
mod approvals;
mod audit;
mod blocks;
mod browser;
mod changes;
mod cli;
mod client;
mod csrf;
mod dashboard;
mod deletion;
mod errors;
mod event_webhooks;
mod execution;
mod faults;
mod freezes;
mod headers;
mod health;
mod hostile_input;
mod lists;
mod login;
mod manual_steps;
mod openapi;
mod origin;
mod page_cost;
mod permission_matrix;
mod permissions;
mod projects;
mod races;
mod read_cache;
mod releases;
mod request_cost;
mod retention;
mod roles;
mod rollback;
mod schemathesis;
mod sessions;
mod site;
mod soak;
mod soak_load;
mod states;
mod supersede;
mod throttle;
mod tokens;
mod verification;
mod wake;
mod webhooks;
mod withdrawn;
mod workers;
