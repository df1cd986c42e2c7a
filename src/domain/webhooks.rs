//! Event webhooks: a project's subscriptions (a URL, the events it wants,
//! a payload format) and their deliveries. Deliveries are queued by
//! triggers in the same transaction as the event (migration
//! `event_webhooks`), whichever path made it; the workers send them
//! (`worker::deliveries`), signed per Standard Webhooks, retrying with
//! backoff for [`RETRY_FOR`]: at least once, never lost.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::audit::{self, Actor, Event};
use super::rejection::Rejection;
use super::secrets::SecretBox;
use super::validation::{self, FieldErrors};
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_subscriptions};
use crate::domain::ids::ProjectId;

/// The events a subscription may want, with what they are called on pages.
pub const EVENTS: [(&str, &str); 12] = [
    ("release.created", "Release created"),
    ("release.blocked", "Release blocked"),
    ("release.unblocked", "Release unblocked"),
    (
        "deployment.awaiting_approval",
        "Deployment awaiting approval",
    ),
    ("deployment.started", "Deployment started"),
    (
        "deployment.waiting_for_person",
        "Deployment waiting for a person (manual step)",
    ),
    ("deployment.verifying", "Deployment verifying"),
    ("deployment.succeeded", "Deployment succeeded"),
    ("deployment.failed", "Deployment failed"),
    ("deployment.rejected", "Deployment rejected"),
    ("deployment.cancelled", "Deployment cancelled"),
    ("freeze.override_used", "Freeze or window override used"),
];

/// How long a delivery is retried before it is given up.
pub const RETRY_FOR: Duration = Duration::hours(24);

/// The name a subscription's secret is sealed under.
const SEALED_AS: &str = "webhook-signing-secret";

pub type WebhookError = Rejection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct Subscription {
    pub id: i64,
    pub project_id: ProjectId,
    pub url: String,
    pub events: Vec<String>,
    pub format: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    pub fn wants(&self, event: &&str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionInput {
    pub url: String,
    pub events: Vec<String>,
    /// `standard` or `slack`.
    pub format: String,
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let bytes = hex::decode(crate::crypto::random::token_hex(32)).unwrap_or_default();
    format!("whsec_{}", STANDARD.encode(bytes))
}

fn judge(input: &SubscriptionInput) -> Result<(String, Vec<String>, String), FieldErrors> {
    let mut errors = FieldErrors::new();
    let url = input.url.trim();
    match validation::url_problem(url) {
        Some(problem) => errors.add("url", problem),
        None if url.is_empty() => errors.add("url", "Enter the URL to send events to."),
        None => {}
    }
    let mut events = Vec::new();
    for event in &input.events {
        if !EVENTS.iter().any(|(e, _)| e == event) {
            errors.add("events", "Choose events from the list.");
        } else if !events.contains(event) {
            events.push(event.clone());
        }
    }
    if events.is_empty() && !errors.has("events") {
        errors.add("events", "Choose at least one event.");
    }
    let format = match input.format.as_str() {
        "" | "standard" => "standard",
        "slack" => "slack",
        _ => {
            errors.add("format", "Choose Standard Webhooks or Slack-compatible.");
            "standard"
        }
    };
    errors.into_result()?;
    Ok((url.to_owned(), events, format.to_owned()))
}

/// Subscribes `url` to events of the project. Audited.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    secrets: &SecretBox,
    project_id: ProjectId,
    input: &SubscriptionInput,
) -> Result<Subscription, WebhookError> {
    let (url, events, format) = judge(input).map_err(Rejection::Invalid)?;
    conn.transaction(|conn| {
        let subscription = diesel::insert_into(webhook_subscriptions::table)
            .values((
                webhook_subscriptions::project_id.eq(project_id),
                webhook_subscriptions::url.eq(&url),
                webhook_subscriptions::events.eq(&events),
                webhook_subscriptions::format.eq(&format),
                webhook_subscriptions::secret.eq(secrets.seal(SEALED_AS, &new_secret())),
                webhook_subscriptions::created_by.eq(actor.user_id),
            ))
            .returning(Subscription::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("webhook.created", "webhook", subscription.id)
                .in_project(project_id)
                .details(json!({ "url": url, "events": events, "format": format })),
        )?;
        Ok(subscription)
    })
}

pub fn of_project(
    conn: &mut PgConnection,
    project_id: ProjectId,
) -> QueryResult<Vec<Subscription>> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::project_id.eq(project_id))
        .order(webhook_subscriptions::id.asc())
        .select(Subscription::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut PgConnection,
    project_id: ProjectId,
    id: i64,
) -> QueryResult<Option<Subscription>> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::project_id.eq(project_id))
        .filter(webhook_subscriptions::id.eq(id))
        .select(Subscription::as_select())
        .first(conn)
        .optional()
}

/// The signing secret, for the admin who sets up the receiver.
pub fn secret_of(conn: &mut PgConnection, secrets: &SecretBox, id: i64) -> QueryResult<String> {
    let sealed: Vec<u8> = webhook_subscriptions::table
        .find(id)
        .select(webhook_subscriptions::secret)
        .first(conn)?;
    Ok(secrets
        .open(SEALED_AS, &sealed)
        .unwrap_or_else(|_| "(cannot be read: was STAGECOACH_SECRET_KEY changed?)".to_owned()))
}

/// Removes a subscription and its deliveries. Audited.
pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    id: i64,
) -> Result<(), WebhookError> {
    conn.transaction(|conn| {
        let url: String = diesel::delete(
            webhook_subscriptions::table
                .filter(webhook_subscriptions::project_id.eq(project_id))
                .filter(webhook_subscriptions::id.eq(id)),
        )
        .returning(webhook_subscriptions::url)
        .get_result(conn)
        .optional()?
        .ok_or(Rejection::NotFound)?;
        audit::record(
            conn,
            actor,
            Event::new("webhook.removed", "webhook", id)
                .in_project(project_id)
                .details(json!({ "url": url })),
        )?;
        Ok(())
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: i64,
    pub message_id: String,
    pub event: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub response: String,
    pub error: Option<String>,
}

/// How many deliveries a subscription's page shows.
pub const DELIVERIES_SHOWN: i64 = 50;

/// A subscription's newest deliveries, each with its attempts (two reads,
/// whatever the number of deliveries).
pub fn deliveries(
    conn: &mut PgConnection,
    subscription_id: i64,
) -> QueryResult<Vec<(Delivery, Vec<AttemptRow>)>> {
    let deliveries: Vec<Delivery> = crate::db::limited(
        webhook_deliveries::table
            .filter(webhook_deliveries::subscription_id.eq(subscription_id))
            .order((
                webhook_deliveries::created_at.desc(),
                webhook_deliveries::id.desc(),
            ))
            .select(Delivery::as_select()),
        DELIVERIES_SHOWN,
    )
    .load(conn)?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let attempts: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order((webhook_attempts::at.asc(), webhook_attempts::id.asc()))
        .select(AttemptRow::as_select())
        .load(conn)?;
    Ok(deliveries
        .into_iter()
        .map(|d| {
            let mine = attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .cloned()
                .collect();
            (d, mine)
        })
        .collect())
}

/// Sends a delivery again (same message id, so a receiver that saw it can
/// tell). Audited.
pub fn redeliver(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    subscription_id: i64,
    delivery_id: i64,
) -> Result<(), WebhookError> {
    conn.transaction(|conn| {
        find(conn, project_id, subscription_id)?.ok_or(Rejection::NotFound)?;
        let updated = diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(delivery_id))
                .filter(webhook_deliveries::subscription_id.eq(subscription_id)),
        )
        .set((
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::next_attempt_at.eq(Utc::now()),
            webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
            // A fresh day of retries from now.
            webhook_deliveries::created_at.eq(Utc::now()),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(Rejection::NotFound);
        }
        audit::record(
            conn,
            actor,
            Event::new("webhook.redelivered", "webhook", subscription_id)
                .in_project(project_id)
                .details(json!({ "delivery": delivery_id })),
        )?;
        Ok(())
    })
}

/// A delivery a sender holds.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    pub id: i64,
    pub message_id: String,
    pub event: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub url: String,
    pub format: String,
    pub sealed_secret: Vec<u8>,
}

/// Takes up to `limit` deliveries that are due, holding them for `hold`
/// (another sender skips them; a dead sender's hold runs out).
pub fn claim_due(
    conn: &mut PgConnection,
    hold: std::time::Duration,
    limit: i64,
) -> QueryResult<Vec<Due>> {
    let now = Utc::now();
    let until = now + Duration::from_std(hold).unwrap_or(Duration::minutes(1));
    conn.transaction(|conn| {
        let ids: Vec<i64> = crate::db::limited(
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq("pending"))
                .filter(webhook_deliveries::next_attempt_at.le(now))
                .filter(
                    webhook_deliveries::locked_until
                        .is_null()
                        .or(webhook_deliveries::locked_until.lt(now)),
                )
                .order(webhook_deliveries::next_attempt_at.asc())
                .select(webhook_deliveries::id)
                .for_update()
                .skip_locked(),
            limit,
        )
        .load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set(webhook_deliveries::locked_until.eq(until))
            .execute(conn)?;
        webhook_deliveries::table
            .inner_join(webhook_subscriptions::table)
            .filter(webhook_deliveries::id.eq_any(&ids))
            // Oldest event first, as they happened.
            .order((
                webhook_deliveries::next_attempt_at.asc(),
                webhook_deliveries::id.asc(),
            ))
            .select((
                webhook_deliveries::id,
                webhook_deliveries::message_id,
                webhook_deliveries::event,
                webhook_deliveries::payload,
                webhook_deliveries::attempts,
                webhook_deliveries::created_at,
                webhook_subscriptions::url,
                webhook_subscriptions::format,
                webhook_subscriptions::secret,
            ))
            .load(conn)
    })
}

/// What an attempt came to.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { code: u16, body: String },
    /// Another answer, or none.
    Failed {
        code: Option<u16>,
        body: String,
        error: String,
    },
}

/// When to try again after `attempts` failed: 10 s, doubling, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::seconds((10_i64 << exponent.min(9)).min(3600))
}

/// Records an attempt: delivered, retried later, or given up after
/// [`RETRY_FOR`].
pub fn record(conn: &mut PgConnection, due: &Due, attempt: &Attempt) -> QueryResult<()> {
    let now = Utc::now();
    let (code, body, error) = match attempt {
        Attempt::Delivered { code, body } => (Some(*code), body, None),
        Attempt::Failed { code, body, error } => (*code, body, Some(error)),
    };
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(due.id),
            webhook_attempts::at.eq(now),
            webhook_attempts::status_code.eq(code.map(i32::from)),
            webhook_attempts::response.eq(body),
            webhook_attempts::error.eq(error),
        ))
        .execute(conn)?;
    let attempts = due.attempts + 1;
    let target = webhook_deliveries::table.find(due.id);
    match attempt {
        Attempt::Delivered { code, body } => diesel::update(target)
            .set((
                webhook_deliveries::status.eq("delivered"),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                webhook_deliveries::last_status_code.eq(Some(i32::from(*code))),
                webhook_deliveries::last_response.eq(Some(body)),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::delivered_at.eq(Some(now)),
            ))
            .execute(conn)?,
        Attempt::Failed { code, body, error } => {
            let next = now + backoff(attempts);
            let status = if next > due.created_at + RETRY_FOR {
                "failed"
            } else {
                "pending"
            };
            diesel::update(target)
                .set((
                    webhook_deliveries::status.eq(status),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::next_attempt_at.eq(next),
                    webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                    webhook_deliveries::last_status_code.eq(code.map(i32::from)),
                    webhook_deliveries::last_response.eq(Some(body)),
                    webhook_deliveries::last_error.eq(Some(error)),
                ))
                .execute(conn)?
        }
    };
    Ok(())
}

/// How long a finished delivery (and its attempts) stays on its page.
pub const KEPT: Duration = Duration::days(30);

/// Removes deliveries that finished (delivered or given up) more than
/// [`KEPT`] ago, with their attempts: the tables hold a month of events,
/// not the project's whole history.
pub fn sweep(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::status.ne("pending"))
            .filter(webhook_deliveries::created_at.lt(Utc::now() - KEPT)),
    )
    .execute(conn)
}

/// The Standard Webhooks signature of a message: `v1,` and the base64
/// HMAC-SHA256, keyed by the secret's bytes, of `{id}.{timestamp}.{body}`.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        // HMAC takes a key of any length.
        return String::new();
    };
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The body sent for a delivery: the event as queued, with links made
/// absolute by `base` (the site's public URL) when known; or, for a Slack
/// incoming webhook, a `{"text": …}` line with the link.
pub fn body_of(due: &Due, base: Option<&str>) -> String {
    let mut payload = due.payload.clone();
    let path = payload["data"]["path"].as_str().unwrap_or("").to_owned();
    let link = match base {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    };
    payload["data"]["url"] = json!(link);
    if due.format != "slack" {
        return payload.to_string();
    }
    let data = &payload["data"];
    let what = |key: &str| data[key].as_str().unwrap_or("").to_owned();
    let text = match due.event.as_str() {
        "release.created" => format!("Release {} of {} created", what("version"), what("project")),
        "release.blocked" => format!(
            "Release {} of {} blocked by {}: {}",
            what("version"),
            what("project"),
            what("blocked_by"),
            what("reason")
        ),
        "release.unblocked" => {
            format!(
                "Release {} of {} unblocked",
                what("version"),
                what("project")
            )
        }
        "freeze.override_used" => format!(
            "Override used: {} {} to {} ({})",
            what("project"),
            what("version"),
            what("environment_name"),
            what("reason")
        ),
        event => format!(
            "Deployment of {} {} to {}: {}",
            what("project"),
            what("version"),
            what("environment_name"),
            event.trim_start_matches("deployment.").replace('_', " ")
        ),
    };
    json!({ "text": format!("{text} <{link}>") }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_follows_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(2), Duration::seconds(20));
        assert_eq!(backoff(12), Duration::seconds(3600));
    }

    #[test]
    fn a_subscription_needs_a_url_and_known_events() {
        let bad = SubscriptionInput {
            url: "ftp://x".into(),
            events: vec!["release.deleted".into()],
            format: "xml".into(),
        };
        let errors = judge(&bad).unwrap_err();
        assert!(errors.has("url") && errors.has("events") && errors.has("format"));
        let good = SubscriptionInput {
            url: "https://hooks.example.com/x".into(),
            events: vec!["deployment.failed".into(), "deployment.failed".into()],
            format: String::new(),
        };
        assert_eq!(judge(&good).unwrap().1, ["deployment.failed"]);
    }
}
