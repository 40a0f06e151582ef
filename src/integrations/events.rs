//! Event webhooks: what happened, as the JSON a business's endpoint receives,
//! queued in the durable outbox once per subscribed endpoint.
//!
//! Every event of one call to one endpoint shares an ordering key, and the
//! notifier sends an item only once the items queued before it under the
//! same key are delivered (or dead-lettered): events arrive in order per call.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::Config;
use crate::store::{Notification, Store, StoreError};

/// One event, before it is addressed to endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `call.started`, `message.created`, … (see `config::integrations::EVENT_TYPES`).
    pub kind: &'static str,
    pub call_sid: Option<String>,
    pub at: DateTime<Utc>,
    /// The event's own fields (`data` in the envelope).
    pub data: Value,
    /// Distinguishes events of one kind within a call (a second message, a
    /// second booking); part of the idempotency key.
    pub discriminator: String,
}

impl Event {
    pub fn new(kind: &'static str, call_sid: Option<&str>, at: DateTime<Utc>, data: Value) -> Self {
        Event {
            kind,
            call_sid: call_sid.map(str::to_string),
            at,
            data,
            discriminator: String::new(),
        }
    }

    pub fn discriminated(mut self, d: impl Into<String>) -> Self {
        self.discriminator = d.into();
        self
    }
}

/// The body an endpoint receives (the Standard Webhooks envelope:
/// `type`, `timestamp`, `data`).
pub fn envelope(config: &Config, event: &Event, link: Option<&str>) -> Value {
    let mut data = event.data.clone();
    if let (Some(obj), Some(sid)) = (data.as_object_mut(), &event.call_sid) {
        obj.insert("call_sid".into(), json!(sid));
        if event.kind == "call.ended" {
            obj.insert(
                "link".into(),
                link.map(|l| json!(l.replace("{call_sid}", sid)))
                    .unwrap_or(Value::Null),
            );
        }
    }
    json!({
        "type": event.kind,
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "business": {
            "name": config.business.business.name,
            "phone": config.business.business.phone,
        },
        "data": data,
    })
}

/// Queues `event` for every endpoint that subscribed to it. Idempotent: the
/// same event (kind, call, discriminator) is queued once per endpoint however
/// often this runs. Returns how many items were queued.
pub async fn emit(store: &Store, config: &Config, event: &Event) -> Result<usize, StoreError> {
    let mut queued = 0;
    for endpoint in config
        .business
        .webhooks
        .iter()
        .filter(|e| e.wants(event.kind))
    {
        let scope = event.call_sid.as_deref().unwrap_or("-");
        let key = format!(
            "webhook:{}:{}:{}:{}",
            endpoint.name, scope, event.kind, event.discriminator
        );
        let id = format!("msg_{}", short_hash(&key));
        let body = envelope(config, event, endpoint.call_link.as_deref()).to_string();
        let n = Notification::Webhook {
            endpoint: endpoint.name.clone(),
            event: event.kind.to_string(),
            id,
            call_sid: event.call_sid.clone(),
            body,
        };
        if store.enqueue_notification(&n, Some(&key)).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Emits and logs a failure instead of returning it: an event that cannot be
/// queued must not fail what caused it (a call, a tool).
pub async fn emit_logged(store: &Store, config: &Config, event: &Event) {
    if let Err(e) = emit(store, config, event).await {
        let sid = event
            .call_sid
            .as_deref()
            .map(crate::logmask::mask_id)
            .unwrap_or_default();
        tracing::warn!(call_sid = %sid, event = event.kind, error = %e, "cannot queue an event webhook");
    }
}

/// A stable message id from the idempotency key: a re-queued event keeps its
/// `webhook-id`, so a receiver can drop duplicates.
fn short_hash(key: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(key.as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}
