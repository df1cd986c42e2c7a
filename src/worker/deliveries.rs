//! Sends event webhooks: every process with workers runs one sender, which
//! takes due deliveries (`domain::webhooks::claim_due`, skipping those
//! another sender holds), posts each signed per Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) through the
//! same address policy as webhook steps, and records the answer; failures
//! are retried with backoff for a day. A sender killed mid-send leaves its
//! deliveries held only until their hold runs out: at least once.

use std::time::Duration;

use tokio::sync::watch;

use super::{WorkerConfig, webhook};
use crate::db::{self, DbPool};
use crate::domain::webhooks::{self, Attempt, Due};

/// Deliveries taken at a time.
const BATCH: u32 = 5;

/// How long a sender holds the deliveries it took: long enough to send the
/// whole batch one after another, each taking up to its timeout, with the
/// lease as slack. (A hold shorter than that would let another sender take
/// the tail of a slow batch and send it twice.) A sender that dies leaves
/// them to another once the hold runs out: at least once.
fn hold(config: &WorkerConfig) -> Duration {
    config.delivery_timeout * BATCH + config.lease
}

pub async fn run(pool: DbPool, config: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let agent = webhook::agent(&config.webhook_policy, config.delivery_timeout);
    let hold = hold(&config);
    loop {
        if *stop.borrow() {
            return;
        }
        let due = db::run(&pool, move |conn| {
            webhooks::claim_due(conn, hold, i64::from(BATCH))
        })
        .await;
        let due = match due {
            Ok(due) => due,
            Err(err) => {
                tracing::debug!("webhook sender cannot read deliveries: {err}");
                Vec::new()
            }
        };
        let idle = due.is_empty();
        for delivery in due {
            let (sender, settings) = (agent.clone(), config.clone());
            let Ok((delivery, attempt)) = tokio::task::spawn_blocking(move || {
                let attempt = send(&sender, &settings, &delivery);
                (delivery, attempt)
            })
            .await
            else {
                continue; // Its hold runs out; another round sends it.
            };
            let id = delivery.id;
            let recorded = db::run(&pool, move |conn| {
                webhooks::record(conn, &delivery, &attempt)
            })
            .await;
            if let Err(err) = recorded {
                tracing::warn!(delivery = id, "recording a webhook attempt: {err}");
            }
        }
        if idle {
            tokio::select! {
                () = tokio::time::sleep(config.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

fn send(agent: &ureq::Agent, config: &WorkerConfig, due: &Due) -> Attempt {
    let secret = config
        .secrets
        .open("webhook-signing-secret", &due.sealed_secret)
        .unwrap_or_default();
    let body = webhooks::body_of(due, config.public_url.as_deref());
    let timestamp = chrono::Utc::now().timestamp();
    let signature = webhooks::sign(&secret, &due.message_id, timestamp, &body);
    let result = agent
        .post(&due.url)
        .header("content-type", "application/json")
        .header("user-agent", "Stagecoach-Webhooks")
        .header("webhook-id", &due.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", &signature)
        .send(body.as_bytes());
    match result {
        Ok(mut response) => {
            let code = response.status().as_u16();
            let text = webhook::body_start(response.body_mut());
            if (200..300).contains(&code) {
                Attempt::Delivered { code, body: text }
            } else {
                Attempt::Failed {
                    code: Some(code),
                    body: text,
                    error: format!("answered {code}"),
                }
            }
        }
        Err(err) => Attempt::Failed {
            code: None,
            body: String::new(),
            error: err.to_string(),
        },
    }
}
