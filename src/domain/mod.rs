//! The rules of Stagecoach as plain functions over `&mut PgConnection`. Each
//! change runs in one transaction with its audit event. Nothing here knows
//! about HTTP or HTML.

pub mod audit;
pub mod bootstrap;
pub mod dashboard;
pub mod demo;
pub mod login;
pub mod throttle;
pub mod users;
