//! The rules of Stagecoach as plain functions over `&mut PgConnection`. Each
//! change runs in one transaction with its audit event. Nothing here knows
//! about HTTP or HTML.

pub mod access;
pub mod approvals;
pub mod audit;
pub mod blocks;
pub mod bootstrap;
pub mod changes;
pub mod checks;
pub mod dashboard;
pub mod demo;
pub mod deployment_view;
pub mod deployments;
pub mod environments;
pub mod freezes;
pub mod grants;
pub mod idempotency;
pub mod ids;
pub mod keyset;
pub mod login;
pub mod offers;
pub mod ordering;
pub mod projects;
pub mod readiness;
pub mod rejection;
pub mod release_view;
pub mod releases;
pub mod retention;
pub mod schedules;
pub mod secrets;
pub mod sessions;
pub mod states;
pub mod steps;
pub mod teams;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod validation;
pub mod variables;
pub mod webhooks;
pub mod weekdays;
