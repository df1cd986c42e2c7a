//! Standard Webhooks, the sending side (`domain::webhooks::sign` and
//! `body_of`, as `worker::deliveries` puts them in the `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` headers). Stagecoach only
//! sends webhooks; this target is the receiver: it reads the headers the
//! way the specification says a receiver must and verifies them with its
//! own HMAC. Nothing panics for any secret, id, time or body; the
//! signature is a valid header value, `v1,` and 32 bytes of base64; a
//! receiver holding the secret accepts it, and refuses it for another
//! body, id or time; the body sent is JSON carrying the link.

#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use stagecoach::fuzzing::{self, Due};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// The secret's bytes, as `whsec_` and base64 of them (how Stagecoach
    /// makes secrets), or any text (what a sealed secret could hold).
    key: &'a [u8],
    any_secret: Option<&'a str>,
    message_id: &'a str,
    timestamp: i64,
    body: &'a str,
    other_body: &'a str,
    // The delivery's body.
    event: &'a str,
    slack: bool,
    base: Option<&'a str>,
    data: Vec<(&'a str, &'a str)>,
}

/// A receiver per the specification: `webhook-signature` is a list of
/// `version,base64` separated by spaces; any `v1` one that is the HMAC of
/// `{id}.{timestamp}.{body}` under the secret's bytes verifies.
fn verifies(key: &[u8], id: &str, timestamp: &str, body: &str, header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = mac.finalize().into_bytes();
    header.split(' ').any(|entry| {
        entry
            .split_once(',')
            .filter(|(version, _)| *version == "v1")
            .and_then(|(_, sig)| STANDARD.decode(sig).ok())
            .is_some_and(|sig| sig.as_slice() == expected.as_slice())
    })
}

fn header_value(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fuzz_target!(|input: Input<'_>| {
    if let Some(secret) = input.any_secret {
        let signature =
            fuzzing::webhook_signature(secret, input.message_id, input.timestamp, input.body);
        let sig = signature.strip_prefix("v1,").expect("a v1 signature");
        assert_eq!(STANDARD.decode(sig).map(|s| s.len()), Ok(32));
    }
    let secret = format!("whsec_{}", STANDARD.encode(input.key));
    let signature =
        fuzzing::webhook_signature(&secret, input.message_id, input.timestamp, input.body);
    assert!(header_value(&signature), "{signature:?}");
    let timestamp = input.timestamp.to_string();
    assert!(
        verifies(
            input.key,
            input.message_id,
            &timestamp,
            input.body,
            &signature
        ),
        "the receiver refuses {signature:?}"
    );
    if input.other_body != input.body {
        assert!(!verifies(
            input.key,
            input.message_id,
            &timestamp,
            input.other_body,
            &signature
        ));
    }
    let later = input.timestamp.wrapping_add(1).to_string();
    assert!(!verifies(
        input.key,
        input.message_id,
        &later,
        input.body,
        &signature
    ));

    // The body: an event's payload as queued, `data` holding user text.
    let mut data = serde_json::Map::new();
    for (key, value) in &input.data {
        data.insert(
            (*key).to_owned(),
            serde_json::Value::String((*value).to_owned()),
        );
    }
    let path = data
        .get("path")
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_owned();
    let due = Due {
        id: 1,
        message_id: input.message_id.to_owned(),
        event: input.event.to_owned(),
        payload: serde_json::json!({ "type": input.event, "data": data }),
        attempts: 0,
        created_at: chrono::DateTime::UNIX_EPOCH,
        url: "https://example.com/hook".to_owned(),
        format: if input.slack { "slack" } else { "standard" }.to_owned(),
        sealed_secret: Vec::new(),
    };
    let body = fuzzing::webhook_body(&due, input.base);
    let json: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    let link = match input.base {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    };
    if input.slack {
        let text = json["text"].as_str().expect("a Slack body has text");
        assert!(text.ends_with(&format!(" <{link}>")), "{text:?}");
    } else {
        assert_eq!(json["data"]["url"].as_str(), Some(link.as_str()));
        assert_eq!(json["type"].as_str(), Some(input.event));
    }
});
