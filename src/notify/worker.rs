//! The notifier: a background task that drains the outbox. It polls for due
//! items, claims each one (so engine instances sharing a database never send
//! the same item at the same time), sends it on its channel and records the
//! outcome: delivered, tried again later with exponential backoff, or
//! dead-lettered after `notifications.max_attempts` attempts or an error that
//! retrying cannot fix.
//!
//! Calls never wait for it: tools only enqueue (one INSERT), and this task
//! runs on its own.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::email::EmailChannel;
use super::outbox::OutboxItem;
use super::slack::SlackChannel;
use super::sms::SmsChannel;
use super::webhook::WebhookChannel;
use super::Notification;
use crate::config::Config;
use crate::config::Secret;
use crate::store::{Store, StoreError};

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// Retrying cannot help (not configured, bad address, 5xx SMTP reply,
    /// revoked webhook): the item is dead-lettered at once.
    pub permanent: bool,
    /// The HTTP status the endpoint answered with, if it answered.
    pub status: Option<u16>,
}

impl SendError {
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
            status: None,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
            status: None,
        }
    }
}

/// Timing of the worker; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// How often the outbox is checked when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Wait after the first failed attempt; doubles with each further one.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long a claimed item stays invisible to other workers; must exceed
    /// `send_timeout`, or a slow send could be repeated by another instance.
    pub lease: Duration,
    /// Upper bound for one send, whatever the channel.
    pub send_timeout: Duration,
    /// Items fetched per poll.
    pub batch: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Delivered items (and their idempotency keys) are kept this long.
    pub keep_sent: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            send_timeout: Duration::from_secs(90),
            batch: 50,
            concurrency: 4,
            keep_sent: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// How often delivered items past `keep_sent` are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Wait before attempt `attempts + 1`, given `attempts` failed ones:
/// `initial`, `2·initial`, `4·initial`, … capped at `max`.
pub fn backoff(attempts: i32, initial: Duration, max: Duration) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(31);
    initial.saturating_mul(1u32 << doublings).min(max)
}

/// The three channels, built once from the configuration. A channel that is
/// not configured keeps the reason, and every item for it fails with that.
#[derive(Debug, Clone)]
pub struct Channels {
    email: Result<EmailChannel, SendError>,
    slack: Result<SlackChannel, SendError>,
    sms: Result<SmsChannel, SendError>,
    webhook: Arc<WebhookChannel>,
}

impl Channels {
    /// Must be called inside a tokio runtime (see [`EmailChannel::from_config`]).
    pub fn from_config(config: &Config) -> Self {
        let n = &config.notifications;
        let channels = Channels {
            email: EmailChannel::from_config(n),
            slack: SlackChannel::from_url(n.slack_webhook_url.as_ref().map(Secret::expose)),
            sms: SmsChannel::from_config(config),
            webhook: Arc::new(WebhookChannel::from_config(&config.business.webhooks)),
        };
        // A wrong setting (as opposed to a channel simply left out) is worth
        // saying at start-up rather than at the first message.
        if !n.smtp_url.trim().is_empty() {
            if let Err(e) = &channels.email {
                tracing::error!(error = %e, "email notifications are misconfigured");
            }
        }
        if n.slack_webhook_url.is_some() {
            if let Err(e) = &channels.slack {
                tracing::error!(error = %e, "Slack notifications are misconfigured");
            }
        }
        channels
    }

    /// Sends `n`; `Ok` carries the HTTP status where there is one.
    pub async fn send(&self, n: &Notification) -> Result<Option<u16>, SendError> {
        let done = None;
        match n {
            Notification::Email { to, subject, body } => self
                .email
                .as_ref()
                .map_err(Clone::clone)?
                .send(to, subject, body)
                .await
                .map(|_| done),
            Notification::Slack { text } => self
                .slack
                .as_ref()
                .map_err(Clone::clone)?
                .send(text)
                .await
                .map(|_| done),
            Notification::Sms { to, body } => self
                .sms
                .as_ref()
                .map_err(Clone::clone)?
                .send(to, body)
                .await
                .map(|_| done),
            Notification::Webhook {
                endpoint, id, body, ..
            } => self.webhook.send(endpoint, id, body).await.map(Some),
        }
    }
}

/// What became of one claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed; due again at that time.
    Retry(chrono::DateTime<Utc>),
    /// Failed for the last time (or for good).
    Dead,
}

/// Where the worker reads the time: the wall clock, or a test's.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<Utc> + Send + Sync>;

/// Drains one store's outbox.
#[derive(Clone)]
pub struct Notifier {
    store: Store,
    channels: Arc<Channels>,
    max_attempts: i32,
    options: WorkerOptions,
    clock: Clock,
}

impl Notifier {
    /// Must be called inside a tokio runtime (see [`Channels::from_config`]).
    pub fn new(store: Store, config: &Config) -> Self {
        Notifier {
            store,
            channels: Arc::new(Channels::from_config(config)),
            max_attempts: i32::try_from(config.notifications.max_attempts.max(1))
                .unwrap_or(i32::MAX),
            options: WorkerOptions {
                backoff_initial: Duration::from_millis(
                    config.notifications.retry_initial_ms.max(1),
                ),
                backoff_max: Duration::from_millis(config.notifications.retry_max_ms.max(1)),
                ..WorkerOptions::default()
            },
            clock: Arc::new(Utc::now),
        }
    }

    /// Reads the time from `clock` (tests drive the retry schedule with it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends everything due now (up to one batch); returns how many items
    /// this worker claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        Ok(self.run_once_counted().await?.0)
    }

    /// [`Notifier::run_once`], also counting the due items held back behind
    /// an earlier item of their ordering key.
    async fn run_once_counted(&self) -> Result<(usize, usize), StoreError> {
        let now = (self.clock)();
        let due = self
            .store
            .due_notifications(now, self.options.batch)
            .await?;
        let (due, held_back) = self.in_order(due).await?;
        let claimed = std::sync::atomic::AtomicUsize::new(0);
        futures_util::stream::iter(due)
            .for_each_concurrent(self.options.concurrency.max(1), |item| {
                let claimed = &claimed;
                async move {
                    if let Some(outcome) = self.claim_and_send(item.id).await {
                        claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::trace!(id = item.id, ?outcome, "outbox item handled");
                    }
                }
            })
            .await;
        Ok((claimed.into_inner(), held_back))
    }

    /// Keeps, of each ordering key, only the oldest undelivered item, and
    /// only when nothing queued before it under that key is still waiting.
    async fn in_order(&self, due: Vec<OutboxItem>) -> Result<(Vec<OutboxItem>, usize), StoreError> {
        let mut keep = Vec::with_capacity(due.len());
        let mut seen = std::collections::HashSet::new();
        let mut held_back = 0;
        for item in due {
            let key = item.notification().ok().and_then(|n| n.ordering_key());
            let Some(key) = key else {
                keep.push(item);
                continue;
            };
            // Due items come in due-time order, not queue order: a retried
            // head can come after its followers, so a held-back item must
            // not take its key's turn.
            if seen.contains(&key) || self.store.blocked_by_earlier(&key, item.id).await? {
                held_back += 1;
                continue;
            }
            seen.insert(key);
            keep.push(item);
        }
        Ok((keep, held_back))
    }

    /// Claims item `id` and sends it; `None` when another worker had it or
    /// the database failed (logged; the item stays queued).
    async fn claim_and_send(&self, id: i64) -> Option<Outcome> {
        let now = (self.clock)();
        let lease_until = now + chrono_duration(self.options.lease);
        let item = match self.store.claim_notification(id, now, lease_until).await {
            Ok(Some(item)) => item,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(id, error = %e, "cannot claim a notification; will try again");
                return None;
            }
        };
        let started = std::time::Instant::now();
        let result = match item.notification() {
            Ok(n) => tokio::time::timeout(self.options.send_timeout, self.channels.send(&n))
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::transient(format!(
                        "no answer within {} s",
                        self.options.send_timeout.as_secs()
                    )))
                }),
            Err(e) => Err(SendError::permanent(format!("unreadable payload: {e}"))),
        };
        let attempt = crate::store::OutboxAttempt {
            outbox_id: item.id,
            attempt: item.attempts,
            at: now,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            status_code: match &result {
                Ok(status) => *status,
                Err(e) => e.status,
            }
            .map(i32::from),
            error: result.as_ref().err().map(|e| e.message.clone()),
        };
        if let Err(e) = self.store.record_attempt(&attempt).await {
            tracing::warn!(id, error = %e, "cannot record a delivery attempt");
        }
        Some(self.record(&item, result.map(|_| ())).await)
    }

    async fn record(&self, item: &OutboxItem, result: Result<(), SendError>) -> Outcome {
        let (id, kind, attempt) = (item.id, item.kind.as_str(), item.attempts);
        let to = item.destination();
        match result {
            Ok(()) => {
                if let Err(e) = self.store.mark_sent(id).await {
                    // The claim runs out and the item is sent again: a
                    // duplicate beats a lost message.
                    tracing::warn!(id, kind, error = %e, "sent, but cannot record it; it may be sent again");
                }
                tracing::info!(id, kind, to = %to, attempt, "notification sent");
                Outcome::Sent
            }
            Err(e) => {
                let dead = e.permanent || attempt >= self.max_attempts;
                let next = (self.clock)()
                    + chrono_duration(backoff(
                        attempt,
                        self.options.backoff_initial,
                        self.options.backoff_max,
                    ));
                if let Err(db) = self.store.mark_failed(id, &e.message, next, dead).await {
                    tracing::warn!(id, kind, error = %db, "cannot record a failed notification");
                }
                if dead {
                    tracing::error!(
                        id, kind, to = %to, attempt, error = %e,
                        "notification dead-lettered; `frontdesk outbox retry {id}` sends it again"
                    );
                    Outcome::Dead
                } else {
                    tracing::warn!(id, kind, to = %to, attempt, error = %e, retry_at = %next, "notification failed; will retry");
                    Outcome::Retry(next)
                }
            }
        }
    }

    /// Runs until the handle is stopped (or the runtime ends).
    pub fn spawn(self) -> NotifierHandle {
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(self.run(wake.clone()));
        NotifierHandle { wake, task }
    }

    async fn run(self, wake: Arc<Notify>) {
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            let full = match self.run_once_counted().await {
                // Full batch, or an item just went and the next of its
                // ordering key may be due right behind it.
                Ok((claimed, held_back)) => {
                    claimed as i64 >= self.options.batch || (claimed > 0 && held_back > 0)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the notification outbox; will try again");
                    false
                }
            };
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                last_purge = Some(tokio::time::Instant::now());
                let before = Utc::now() - chrono_duration(self.options.keep_sent);
                match self.store.purge_sent_notifications(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "old delivered notifications purged"),
                    Err(e) => tracing::warn!(error = %e, "cannot purge delivered notifications"),
                }
            }
            if full {
                // More may be due right now.
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.poll_interval) => {}
                _ = wake.notified() => {}
            }
        }
    }
}

/// Starts the notifier for an engine (`app::launch`).
pub fn spawn(store: Store, config: &Config) -> NotifierHandle {
    Notifier::new(store, config).spawn()
}

/// A running notifier. Dropping the handle leaves it running.
#[derive(Debug)]
pub struct NotifierHandle {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl NotifierHandle {
    /// Makes the worker look at the outbox now instead of at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the worker. A send in progress is abandoned; its claim runs out
    /// and another worker sends the item.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (i, m) = (Duration::from_secs(5), Duration::from_secs(3600));
        let secs: Vec<u64> = (1..=12).map(|a| backoff(a, i, m).as_secs()).collect();
        assert_eq!(
            secs,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(0, i, m), i);
        assert_eq!(backoff(i32::MAX, i, m), m);
        assert_eq!(backoff(-3, i, m), i);
    }

    #[tokio::test]
    async fn unconfigured_channels_fail_permanently_with_the_reason() {
        let mut config = Config::default();
        config.twilio.account_sid = String::new();
        let channels = Channels::from_config(&config);
        let email = Notification::Email {
            to: vec!["a@example.com".into()],
            subject: "s".into(),
            body: "b".into(),
        };
        let e = channels.send(&email).await.unwrap_err();
        assert!(e.permanent && e.message.contains("smtp_url"), "{e}");
        let e = channels
            .send(&Notification::Slack { text: "t".into() })
            .await
            .unwrap_err();
        assert!(
            e.permanent && e.message.contains("SLACK_WEBHOOK_URL"),
            "{e}"
        );
        let e = channels
            .send(&Notification::Sms {
                to: "+15551234567".into(),
                body: "b".into(),
            })
            .await
            .unwrap_err();
        assert!(e.permanent && e.message.contains("account_sid"), "{e}");
    }

    #[tokio::test]
    async fn unconfigured_items_are_dead_lettered_at_once() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let mut config = Config::default();
        config.notifications.max_attempts = 5;
        let id = store
            .enqueue_notification(&Notification::Slack { text: "hi".into() }, None)
            .await
            .unwrap()
            .unwrap();
        let notifier = Notifier::new(store.clone(), &config);
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let items = store.list_outbox(true).await.unwrap();
        let item = items.iter().find(|i| i.id == id).unwrap();
        assert!(item.dead, "{item:?}");
        assert_eq!(item.attempts, 1);
        assert!(item
            .last_error
            .as_deref()
            .unwrap()
            .contains("not configured"));
        assert_eq!(notifier.run_once().await.unwrap(), 0, "dead items rest");
    }
}
