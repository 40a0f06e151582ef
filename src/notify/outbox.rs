//! Outbox rows as the worker and the operator see them, and the
//! `frontdesk outbox` command (listing pending and dead notifications,
//! retrying one).

use chrono::{DateTime, Utc};

pub use crate::store::OutboxItem;
use crate::store::{Store, StoreError};

/// What `frontdesk outbox` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxAction {
    /// Print pending and dead notifications.
    List,
    /// Make one notification due now, reviving it if it was dead-lettered.
    Retry(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxCommandError {
    /// Unknown, or already delivered.
    #[error("no pending or dead notification with id {0}")]
    NoSuchItem(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `frontdesk outbox [retry <id>]` and returns what to print.
pub async fn run_command(
    store: &Store,
    action: OutboxAction,
) -> Result<String, OutboxCommandError> {
    match action {
        OutboxAction::List => Ok(format_listing(&store.list_outbox(true).await?, Utc::now())),
        OutboxAction::Retry(id) => match store.retry_notification(id).await {
            Ok(()) => Ok(format!(
                "notification {id} is due now; a running engine sends it within seconds\n"
            )),
            Err(StoreError::NotFound) => Err(OutboxCommandError::NoSuchItem(id)),
            Err(e) => Err(e.into()),
        },
    }
}

/// One line per item: id, state, kind, attempts, when, destination, last error.
pub fn format_listing(items: &[OutboxItem], now: DateTime<Utc>) -> String {
    if items.is_empty() {
        return "outbox empty: nothing pending, no dead letters\n".into();
    }
    let mut out = format!(
        "{:>6}  {:<7}  {:<5}  {:>8}  {:<20}  {:<30}  LAST ERROR\n",
        "ID", "STATE", "KIND", "ATTEMPTS", "NEXT ATTEMPT", "TO"
    );
    for item in items {
        let state = if item.dead {
            "dead"
        } else if item.next_attempt_at <= now {
            "due"
        } else {
            "waiting"
        };
        let next = if item.dead {
            "-".to_string()
        } else {
            item.next_attempt_at.format("%Y-%m-%d %H:%M:%S").to_string()
        };
        out.push_str(&format!(
            "{:>6}  {:<7}  {:<5}  {:>8}  {:<20}  {:<30}  {}\n",
            item.id,
            state,
            item.kind,
            item.attempts,
            next,
            item.destination(),
            item.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Notification;

    fn item(id: i64, n: &Notification, dead: bool, next: DateTime<Utc>) -> OutboxItem {
        OutboxItem {
            id,
            kind: n.kind().into(),
            payload: serde_json::to_string(n).unwrap(),
            attempts: 3,
            next_attempt_at: next,
            last_error: dead.then(|| "connection refused".to_string()),
            dead,
            idempotency_key: None,
            created_at: next,
            sent_at: None,
        }
    }

    #[test]
    fn listing_masks_phone_numbers_and_shows_state() {
        let now = Utc::now();
        let sms = Notification::Sms {
            to: "+15551234567".into(),
            body: "hi".into(),
        };
        let email = Notification::Email {
            to: vec!["desk@example.com".into()],
            subject: "s".into(),
            body: "b".into(),
        };
        let text = format_listing(
            &[
                item(7, &sms, true, now),
                item(8, &email, false, now + chrono::Duration::seconds(60)),
                item(9, &Notification::Slack { text: "t".into() }, false, now),
            ],
            now,
        );
        assert!(!text.contains("+15551234567"), "{text}");
        assert!(text.contains("+1555***4567"), "{text}");
        let line = |id: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(id))
                .unwrap()
                .to_string()
        };
        assert!(line("7").contains("dead") && line("7").contains("connection refused"));
        assert!(line("8").contains("waiting") && line("8").contains("desk@example.com"));
        assert!(line("9").contains("due") && line("9").contains("webhook"));
        assert!(format_listing(&[], now).contains("outbox empty"));
    }

    #[test]
    fn unreadable_payloads_are_listed_not_fatal() {
        let mut it = item(
            1,
            &Notification::Slack { text: "t".into() },
            false,
            Utc::now(),
        );
        it.payload = "{".into();
        assert!(it.notification().is_err());
        assert_eq!(it.destination(), "(unreadable payload)");
    }
}
