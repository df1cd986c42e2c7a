//! One integration binary: the real app on a random port, against a real
//! PostgreSQL, one fresh database per test.

mod helpers;

mod account;
mod audit;
mod browser;
mod cli;
mod csrf;
mod dashboard;
mod errors;
mod headers;
mod health;
mod login;
mod sessions;
mod throttle;
