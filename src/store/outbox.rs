//! The notification outbox: durable, drained by the notifier worker.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::to_db;
use super::schema::outbox;
use super::Store;
use crate::notify::Notification;

impl Store {
    /// Queues a notification, due now. With an idempotency key, a second
    /// enqueue of the same key queues nothing and returns `None`.
    pub async fn enqueue_notification(
        &self,
        n: &Notification,
        key: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let payload = serde_json::to_string(n).map_err(|e| StoreError::Query(e.to_string()))?;
        let now = to_db(Utc::now());
        db_write!(self, |conn| {
            let id = diesel::insert_into(outbox::table)
                .values((
                    outbox::kind.eq(n.kind()),
                    outbox::payload.eq(&payload),
                    outbox::attempts.eq(0),
                    outbox::next_attempt_at.eq(now),
                    outbox::dead.eq(false),
                    outbox::idempotency_key.eq(key),
                    outbox::created_at.eq(now),
                ))
                .on_conflict(outbox::idempotency_key)
                .do_nothing()
                .returning(outbox::id)
                .get_result::<i64>(conn)
                .await
                .optional()?;
            Ok(id)
        })
    }
}
