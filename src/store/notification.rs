//! What the notification outbox holds: one notification on one channel,
//! and the row as the worker and the operator see it. The store owns these
//! types (it persists them); `notify` decides what goes in and sends it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::logmask::mask_phone;

/// One notification on one channel, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Notification {
    Email {
        to: Vec<String>,
        subject: String,
        body: String,
    },
    /// A Slack-compatible incoming webhook (`{"text": …}`).
    Slack { text: String },
    /// A text message through Twilio Messages.
    Sms { to: String, body: String },
    /// A signed event webhook to one of the business's endpoints
    /// (`[[webhooks]]`, by name: the URL and secret stay in the configuration).
    Webhook {
        endpoint: String,
        /// `call.started`, `message.created`, …
        event: String,
        /// `webhook-id`, the same for every attempt.
        id: String,
        call_sid: Option<String>,
        /// The exact JSON text that is signed and sent.
        body: String,
    },
}

impl Notification {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Email { .. } => "email",
            Notification::Slack { .. } => "slack",
            Notification::Sms { .. } => "sms",
            Notification::Webhook { .. } => "webhook",
        }
    }

    /// Items with the same key are delivered in the order they were queued:
    /// the events of one call to one endpoint.
    pub fn ordering_key(&self) -> Option<String> {
        match self {
            Notification::Webhook {
                endpoint,
                call_sid: Some(sid),
                ..
            } => Some(format!("{endpoint}:{sid}")),
            _ => None,
        }
    }
}

/// One notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    /// `email`, `slack`, `sms` or `webhook`.
    pub kind: String,
    /// The [`Notification`] as JSON; see [`OutboxItem::notification`].
    pub payload: String,
    /// Delivery attempts started so far (a claim counts as one).
    pub attempts: i32,
    /// When the item is due (or, while a worker holds it, when its claim expires).
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Dead-lettered: no more automatic attempts until `frontdesk outbox retry`.
    pub dead: bool,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl OutboxItem {
    pub fn notification(&self) -> Result<Notification, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    /// Where the item goes, fit for logs and the terminal: phone numbers masked.
    pub fn destination(&self) -> String {
        match self.notification() {
            Ok(Notification::Email { to, .. }) => to.join(", "),
            Ok(Notification::Slack { .. }) => "webhook".into(),
            Ok(Notification::Sms { to, .. }) => mask_phone(&to),
            Ok(Notification::Webhook {
                endpoint, event, ..
            }) => format!("{endpoint} ({event})"),
            Err(_) => "(unreadable payload)".into(),
        }
    }
}

/// One delivery attempt of an outbox item, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxAttempt {
    pub outbox_id: i64,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub duration_ms: i64,
    /// The HTTP status, when the endpoint answered.
    pub status_code: Option<i32>,
    /// Why the attempt failed; `None` for a delivery.
    pub error: Option<String>,
}
