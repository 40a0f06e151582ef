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

/// The booking event a finished booking tool stands for, from its output:
/// `book_appointment` → `booking.created`, `reschedule_appointment` →
/// `booking.changed`, `cancel_appointment` → `booking.cancelled`. Read from
/// the output the model gets, so the booking tools need no hook of their own.
pub fn booking_event(
    tool: &str,
    output: &Value,
    call_sid: &str,
    at: DateTime<Utc>,
) -> Option<Event> {
    let (kind, appointment) = match tool {
        "book_appointment" if output["booked"] == true => ("booking.created", output.clone()),
        "reschedule_appointment" if output["rescheduled"] == true => {
            ("booking.changed", output["appointment"].clone())
        }
        "cancel_appointment" if output["cancelled"] == true => {
            ("booking.cancelled", output["appointment"].clone())
        }
        _ => return None,
    };
    let id = appointment["appointment_id"].clone();
    let mut data = json!({ "appointment": appointment });
    if kind == "booking.changed" {
        data["previous"] = output["previous"].clone();
    }
    if let Some(obj) = data["appointment"].as_object_mut() {
        // What the model was told about the text to the caller is not the
        // business's concern.
        obj.remove("sms_confirmation");
        obj.remove("spoken");
        obj.remove("booked");
    }
    let sid = (!call_sid.is_empty()).then_some(call_sid);
    Some(Event::new(kind, sid, at, data).discriminated(id.to_string()))
}

/// `call.started`, `call.ended` and `transfer.failed` from the rows the
/// recorder writes (see [`CallEventsSink`]).
pub fn call_events(row: &crate::store::RecordRow) -> Option<Event> {
    use crate::store::RecordRow;
    match row {
        RecordRow::CallStarted {
            call_sid,
            from_number,
            to_number,
            started_at,
            ..
        } => Some(Event::new(
            "call.started",
            Some(call_sid),
            *started_at,
            json!({ "from": from_number, "to": to_number }),
        )),
        RecordRow::CallEnded {
            call_sid,
            ended_at,
            outcome,
            failure_reason,
        } => Some(Event::new(
            "call.ended",
            Some(call_sid),
            *ended_at,
            // No call summaries are produced yet: `summary` stays null.
            json!({ "outcome": outcome, "failure_reason": failure_reason, "summary": null }),
        )),
        RecordRow::Event {
            call_sid,
            seq,
            kind,
            payload,
            at,
        } if kind == "transfer_failed" => {
            let p: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
            Some(
                Event::new(
                    "transfer.failed",
                    Some(call_sid),
                    *at,
                    json!({ "department": p["department"], "status": p["status"] }),
                )
                .discriminated(seq.to_string()),
            )
        }
        _ => None,
    }
}

/// The recorder's sink with call events on top: rows are written first, then
/// the events they stand for are queued (idempotently, so a batch the
/// recorder retries queues nothing twice). The recorder writes in order, so
/// a call's events are queued in order. A failure to queue fails the batch
/// and the recorder retries it, as it does for any write.
pub struct CallEventsSink {
    pub store: Store,
    pub config: std::sync::Arc<Config>,
}

impl crate::recorder::BatchSink for CallEventsSink {
    fn write(
        &self,
        rows: Vec<crate::store::RecordRow>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send>> {
        let (store, config) = (self.store.clone(), self.config.clone());
        Box::pin(async move {
            store.write_batch(&rows).await?;
            if config.business.webhooks.is_empty() {
                return Ok(());
            }
            for event in rows.iter().filter_map(call_events) {
                emit(&store, &config, &event).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_outputs_become_events() {
        let at = Utc::now();
        let booked = json!({"booked": true, "appointment_id": "ap_1", "service": "Cleaning", "spoken": "Mon", "sms_confirmation": "queued"});
        let e = booking_event("book_appointment", &booked, "CA1", at).unwrap();
        assert_eq!(e.kind, "booking.created");
        assert_eq!(e.data["appointment"]["service"], "Cleaning");
        assert!(e.data["appointment"].get("sms_confirmation").is_none());
        let moved = json!({"rescheduled": true, "previous": {"appointment_id": "ap_1"}, "appointment": {"appointment_id": "ap_1"}});
        assert_eq!(
            booking_event("reschedule_appointment", &moved, "CA1", at)
                .unwrap()
                .kind,
            "booking.changed"
        );
        let gone = json!({"cancelled": true, "appointment": {"appointment_id": "ap_1"}});
        assert_eq!(
            booking_event("cancel_appointment", &gone, "CA1", at)
                .unwrap()
                .kind,
            "booking.cancelled"
        );
        assert!(booking_event("book_appointment", &json!({"error": "taken"}), "CA1", at).is_none());
        assert!(booking_event("end_call", &json!({"ok": true}), "CA1", at).is_none());
    }

    #[test]
    fn recorder_rows_become_call_events() {
        use crate::store::RecordRow;
        let at = Utc::now();
        let failed = RecordRow::Event {
            call_sid: "CA1".into(),
            seq: 7,
            kind: "transfer_failed".into(),
            payload: r#"{"kind":"transfer_failed","department":"Billing","status":"no-answer"}"#
                .into(),
            at,
        };
        let e = call_events(&failed).unwrap();
        assert_eq!((e.kind, e.discriminator.as_str()), ("transfer.failed", "7"));
        assert_eq!(
            e.data,
            json!({"department": "Billing", "status": "no-answer"})
        );
        let ended = RecordRow::CallEnded {
            call_sid: "CA1".into(),
            ended_at: at,
            outcome: "completed".into(),
            failure_reason: None,
        };
        let e = call_events(&ended).unwrap();
        assert_eq!(e.kind, "call.ended");
        assert_eq!(e.data["outcome"], "completed");
        let turn = RecordRow::Turn {
            call_sid: "CA1".into(),
            seq: 1,
            speaker: "caller".into(),
            text: "hi".into(),
            at,
        };
        assert!(call_events(&turn).is_none());
    }

    #[tokio::test]
    async fn events_are_queued_once_per_subscribed_endpoint() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let mut config = Config::default();
        let hook = |name: &str, events: Vec<String>| crate::config::integrations::WebhookEndpoint {
            name: name.into(),
            url: "https://hooks.example.com/x".into(),
            events,
            secret_env: "X".into(),
            secret: crate::config::Secret::new("whsec_c2VjcmV0"),
            allow_private: false,
            timeout_ms: 1000,
            call_link: Some("https://dash.example.com/calls/{call_sid}".into()),
        };
        config.business.webhooks =
            vec![hook("all", vec![]), hook("ends", vec!["call.ended".into()])];
        let started = Event::new(
            "call.started",
            Some("CA1"),
            Utc::now(),
            json!({"from": "+1"}),
        );
        let ended = Event::new(
            "call.ended",
            Some("CA1"),
            Utc::now(),
            json!({"outcome": "completed"}),
        );
        assert_eq!(emit(&store, &config, &started).await.unwrap(), 1);
        assert_eq!(emit(&store, &config, &ended).await.unwrap(), 2);
        assert_eq!(
            emit(&store, &config, &ended).await.unwrap(),
            0,
            "idempotent"
        );
        let items = store.list_outbox(false).await.unwrap();
        assert_eq!(items.len(), 3);
        let Notification::Webhook { body, call_sid, .. } = items[2].notification().unwrap() else {
            panic!("not a webhook: {:?}", items[2]);
        };
        assert_eq!(call_sid.as_deref(), Some("CA1"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "call.ended");
        assert_eq!(body["data"]["link"], "https://dash.example.com/calls/CA1");
        assert_eq!(body["business"]["name"], config.business.business.name);
    }
}
