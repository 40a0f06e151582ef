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
}

impl Notification {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Email { .. } => "email",
            Notification::Slack { .. } => "slack",
            Notification::Sms { .. } => "sms",
        }
    }
}

/// One notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    /// `email`, `slack` or `sms`.
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
            Err(_) => "(unreadable payload)".into(),
        }
    }
}
