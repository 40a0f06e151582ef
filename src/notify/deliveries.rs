//! `frontdesk webhooks`: the event webhooks for operators — each event with
//! its state and every delivery attempt (time, duration, HTTP status or
//! error) — and `resend <id>`, which sends an event again whatever became of
//! it (pending, dead-lettered or delivered), with the same `webhook-id`.

use chrono::{DateTime, Utc};

use crate::store::{Notification, OutboxAttempt, OutboxItem, Store, StoreError};

/// What `frontdesk webhooks` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhooksAction {
    /// The newest `limit` events with their attempts.
    Deliveries { limit: i64 },
    /// Send event `id` again, now.
    Resend(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhooksCommandError {
    #[error("no event webhook with id {0}")]
    NoSuchItem(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the command and returns what to print.
pub async fn run_command(
    store: &Store,
    action: WebhooksAction,
) -> Result<String, WebhooksCommandError> {
    match action {
        WebhooksAction::Deliveries { limit } => {
            let items = store.recent_outbox("webhook", limit).await?;
            let mut rows = Vec::with_capacity(items.len());
            for item in items {
                let attempts = store.outbox_attempts(item.id).await?;
                rows.push((item, attempts));
            }
            Ok(format_deliveries(&rows, Utc::now()))
        }
        WebhooksAction::Resend(id) => {
            let is_webhook = store
                .recent_outbox("webhook", i64::MAX)
                .await?
                .iter()
                .any(|i| i.id == id);
            if !is_webhook {
                return Err(WebhooksCommandError::NoSuchItem(id));
            }
            match store.resend_notification(id).await {
                Ok(()) => Ok(format!(
                    "event {id} is due now; a running engine sends it within seconds\n"
                )),
                Err(StoreError::NotFound) => Err(WebhooksCommandError::NoSuchItem(id)),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn state(item: &OutboxItem, now: DateTime<Utc>) -> &'static str {
    if item.sent_at.is_some() {
        "delivered"
    } else if item.dead {
        "dead"
    } else if item.next_attempt_at <= now {
        "due"
    } else {
        "waiting"
    }
}

/// One line per event, then one indented line per attempt.
pub fn format_deliveries(rows: &[(OutboxItem, Vec<OutboxAttempt>)], now: DateTime<Utc>) -> String {
    if rows.is_empty() {
        return "no event webhooks queued\n".into();
    }
    let mut out = format!(
        "{:>6}  {:<9}  {:<18}  {:<16}  {:<36}  {:<20}\n",
        "ID", "STATE", "EVENT", "ENDPOINT", "CALL", "QUEUED"
    );
    for (item, attempts) in rows {
        let (event, endpoint, call) = match item.notification() {
            Ok(Notification::Webhook {
                event,
                endpoint,
                call_sid,
                ..
            }) => (
                event,
                endpoint,
                call_sid
                    .as_deref()
                    .map(crate::logmask::mask_id)
                    .unwrap_or_default(),
            ),
            _ => ("(unreadable)".into(), String::new(), String::new()),
        };
        out.push_str(&format!(
            "{:>6}  {:<9}  {:<18}  {:<16}  {:<36}  {:<20}\n",
            item.id,
            state(item, now),
            event,
            endpoint,
            call,
            item.created_at.format("%Y-%m-%d %H:%M:%S"),
        ));
        for a in attempts {
            let status = a
                .status_code
                .map(|s| format!("HTTP {s}"))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "          attempt {:<3} {}  {:>6} ms  {:<8}  {}\n",
                a.attempt,
                a.at.format("%Y-%m-%d %H:%M:%S"),
                a.duration_ms,
                status,
                a.error.as_deref().unwrap_or("delivered"),
            ));
        }
        if !item.dead && item.sent_at.is_none() && !attempts.is_empty() {
            out.push_str(&format!(
                "          next attempt {}\n",
                item.next_attempt_at.format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_attempts_and_resends_delivered_and_dead_events() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let n = Notification::Webhook {
            endpoint: "crm".into(),
            event: "call.ended".into(),
            id: "msg_1".into(),
            call_sid: Some("CA0123456789abcdef0123456789abcdef".into()),
            body: "{}".into(),
        };
        let id = store.enqueue_notification(&n, None).await.unwrap().unwrap();
        let now = Utc::now();
        store
            .record_attempt(&OutboxAttempt {
                outbox_id: id,
                attempt: 1,
                at: now,
                duration_ms: 12,
                status_code: Some(503),
                error: Some("bad_status: answered HTTP 503: down".into()),
            })
            .await
            .unwrap();
        store.mark_failed(id, "down", now, true).await.unwrap();
        let text = run_command(&store, WebhooksAction::Deliveries { limit: 10 })
            .await
            .unwrap();
        assert!(
            text.contains("dead") && text.contains("call.ended") && text.contains("HTTP 503"),
            "{text}"
        );
        // The call id in full, to look the call up with `frontdesk calls show`.
        assert!(
            text.contains("CA0123456789abcdef0123456789abcdef"),
            "{text}"
        );
        run_command(&store, WebhooksAction::Resend(id))
            .await
            .unwrap();
        store.mark_sent(id).await.unwrap();
        let text = run_command(&store, WebhooksAction::Deliveries { limit: 10 })
            .await
            .unwrap();
        assert!(text.contains("delivered"), "{text}");
        // Delivered events can be sent again too.
        run_command(&store, WebhooksAction::Resend(id))
            .await
            .unwrap();
        assert_eq!(
            store.due_notifications(Utc::now(), 10).await.unwrap().len(),
            1
        );
        assert!(matches!(
            run_command(&store, WebhooksAction::Resend(999)).await,
            Err(WebhooksCommandError::NoSuchItem(999))
        ));
    }
}
