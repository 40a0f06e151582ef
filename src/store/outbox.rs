//! The notification outbox: durable, drained by the notifier worker.
//!
//! Several engine instances may drain one PostgreSQL outbox. An item is
//! *claimed* before it is sent: one conditional UPDATE moves its
//! `next_attempt_at` past a lease and counts the attempt, and only the
//! instance whose UPDATE matched the row sends it. PostgreSQL row locks make a
//! second, concurrent UPDATE re-check the condition against the committed row
//! (which is no longer due), SQLite's single writer serialises them. A worker
//! that dies mid-send leaves the lease to run out, after which another worker
//! picks the item up again: delivery is at least once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{from_db, to_db};
use super::schema::outbox;
use super::schema::outbox_attempts;
use super::Store;
use super::{Notification, OutboxAttempt, OutboxItem};

/// Error texts are stored for the operator; a runaway server reply must not
/// bloat the table.
const MAX_ERROR_CHARS: usize = 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct OutboxRow {
    id: i64,
    kind: String,
    payload: String,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: Option<String>,
    dead: bool,
    idempotency_key: Option<String>,
    created_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
}

impl From<OutboxRow> for OutboxItem {
    fn from(r: OutboxRow) -> Self {
        OutboxItem {
            id: r.id,
            kind: r.kind,
            payload: r.payload,
            attempts: r.attempts,
            next_attempt_at: from_db(r.next_attempt_at),
            last_error: r.last_error,
            dead: r.dead,
            idempotency_key: r.idempotency_key,
            created_at: from_db(r.created_at),
            sent_at: r.sent_at.map(from_db),
        }
    }
}

impl Store {
    /// Queues a notification, due now. With an idempotency key, a second
    /// enqueue of the same key queues nothing and returns `None` (also after
    /// the first was sent, as long as its row is kept; see
    /// [`Store::purge_sent_notifications`]).
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
                    outbox::ordering_key.eq(n.ordering_key()),
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

    /// Pending items due at `now` (not sent, not dead), oldest first. Reading
    /// is not claiming: see [`Store::claim_notification`].
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = to_db(now);
        db_run!(self, |conn| {
            let rows = outbox::table
                .filter(outbox::dead.eq(false))
                .filter(outbox::sent_at.is_null())
                .filter(outbox::next_attempt_at.le(now))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)
                .await?;
            Ok::<_, StoreError>(rows.into_iter().map(OutboxItem::from).collect())
        })
    }

    /// Takes item `id` for sending if it is still due at `now`: it becomes
    /// due again only at `lease_until` (should this worker die mid-send) and
    /// its attempt is counted. `None` when another worker claimed it first,
    /// or it was sent, dead-lettered or deleted meanwhile.
    pub async fn claim_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let (now, lease_until) = (to_db(now), to_db(lease_until));
        db_write!(self, |conn| {
            let row = diesel::update(
                outbox::table
                    .filter(outbox::id.eq(id))
                    .filter(outbox::dead.eq(false))
                    .filter(outbox::sent_at.is_null())
                    .filter(outbox::next_attempt_at.le(now)),
            )
            .set((
                outbox::next_attempt_at.eq(lease_until),
                outbox::attempts.eq(outbox::attempts + 1),
            ))
            .returning(OutboxRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            Ok(row.map(OutboxItem::from))
        })
    }

    /// Records a delivery. The row stays (with `sent_at`) so its idempotency
    /// key keeps refusing duplicates until it is purged.
    pub async fn mark_sent(&self, id: i64) -> Result<(), StoreError> {
        let now = to_db(Utc::now());
        db_write!(self, |conn| {
            let n = diesel::update(outbox::table.filter(outbox::id.eq(id)))
                .set((outbox::sent_at.eq(now), outbox::dead.eq(false)))
                .execute(conn)
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    /// Records a failed attempt: the item is tried again at `next_attempt_at`,
    /// or never again (until retried by hand) when `dead`. An item another
    /// worker has delivered meanwhile stays delivered.
    pub async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        dead: bool,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let next = to_db(next_attempt_at);
        db_write!(self, |conn| {
            let n = diesel::update(
                outbox::table
                    .filter(outbox::id.eq(id))
                    .filter(outbox::sent_at.is_null()),
            )
            .set((
                outbox::last_error.eq(&error),
                outbox::next_attempt_at.eq(next),
                outbox::dead.eq(dead),
            ))
            .execute(conn)
            .await?;
            if n == 0 {
                let exists = outbox::table
                    .filter(outbox::id.eq(id))
                    .count()
                    .get_result::<i64>(conn)
                    .await?;
                if exists == 0 {
                    return Err(StoreError::NotFound);
                }
            }
            Ok(())
        })
    }

    /// Items not yet delivered, pending ones (and dead letters when
    /// `include_dead`) in queue order.
    pub async fn list_outbox(&self, include_dead: bool) -> Result<Vec<OutboxItem>, StoreError> {
        db_run!(self, |conn| {
            let mut query = outbox::table
                .filter(outbox::sent_at.is_null())
                .order(outbox::id.asc())
                .select(OutboxRow::as_select())
                .into_boxed();
            if !include_dead {
                query = query.filter(outbox::dead.eq(false));
            }
            let rows = query.load(conn).await?;
            Ok::<_, StoreError>(rows.into_iter().map(OutboxItem::from).collect())
        })
    }

    /// Makes an undelivered item due now with a fresh attempt budget,
    /// reviving it if it was dead-lettered. `NotFound` for unknown ids and
    /// for items already delivered.
    pub async fn retry_notification(&self, id: i64) -> Result<(), StoreError> {
        let now = to_db(Utc::now());
        db_write!(self, |conn| {
            let n = diesel::update(
                outbox::table
                    .filter(outbox::id.eq(id))
                    .filter(outbox::sent_at.is_null()),
            )
            .set((
                outbox::dead.eq(false),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
            ))
            .execute(conn)
            .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    /// Deletes delivered items sent before `before`; their idempotency keys
    /// are released with them. Returns how many went.
    pub async fn purge_sent_notifications(
        &self,
        before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let before = to_db(before);
        db_write!(self, |conn| {
            let n = diesel::delete(outbox::table.filter(outbox::sent_at.lt(before)))
                .execute(conn)
                .await?;
            Ok(n)
        })
    }

    /// Whether an item queued before `id` under `key` is still waiting (not
    /// sent, not dead): then `id` must wait too.
    pub async fn blocked_by_earlier(&self, key: &str, id: i64) -> Result<bool, StoreError> {
        let key = key.to_string();
        db_run!(self, |conn| {
            let n = outbox::table
                .filter(outbox::ordering_key.eq(&key))
                .filter(outbox::id.lt(id))
                .filter(outbox::sent_at.is_null())
                .filter(outbox::dead.eq(false))
                .count()
                .get_result::<i64>(conn)
                .await?;
            Ok::<_, StoreError>(n > 0)
        })
    }

    /// Keeps one delivery attempt for the operator.
    pub async fn record_attempt(&self, a: &OutboxAttempt) -> Result<(), StoreError> {
        let error: Option<String> = a
            .error
            .as_ref()
            .map(|e| e.chars().take(MAX_ERROR_CHARS).collect());
        let at = to_db(a.at);
        db_write!(self, |conn| {
            diesel::insert_into(outbox_attempts::table)
                .values((
                    outbox_attempts::outbox_id.eq(a.outbox_id),
                    outbox_attempts::attempt.eq(a.attempt),
                    outbox_attempts::at.eq(at),
                    outbox_attempts::duration_ms.eq(a.duration_ms),
                    outbox_attempts::status_code.eq(a.status_code),
                    outbox_attempts::error.eq(&error),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    /// The attempts of item `outbox_id`, oldest first.
    pub async fn outbox_attempts(&self, outbox_id: i64) -> Result<Vec<OutboxAttempt>, StoreError> {
        db_run!(self, |conn| {
            let rows = outbox_attempts::table
                .filter(outbox_attempts::outbox_id.eq(outbox_id))
                .order(outbox_attempts::id.asc())
                .select((
                    outbox_attempts::outbox_id,
                    outbox_attempts::attempt,
                    outbox_attempts::at,
                    outbox_attempts::duration_ms,
                    outbox_attempts::status_code,
                    outbox_attempts::error,
                ))
                .load::<(i64, i32, NaiveDateTime, i64, Option<i32>, Option<String>)>(conn)
                .await?;
            Ok::<_, StoreError>(
                rows.into_iter()
                    .map(
                        |(outbox_id, attempt, at, duration_ms, status_code, error)| OutboxAttempt {
                            outbox_id,
                            attempt,
                            at: from_db(at),
                            duration_ms,
                            status_code,
                            error,
                        },
                    )
                    .collect(),
            )
        })
    }

    /// The newest `limit` items of `kind`, delivered ones included, newest first.
    pub async fn recent_outbox(
        &self,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let kind = kind.to_string();
        db_run!(self, |conn| {
            let rows = outbox::table
                .filter(outbox::kind.eq(&kind))
                .order(outbox::id.desc())
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)
                .await?;
            Ok::<_, StoreError>(rows.into_iter().map(OutboxItem::from).collect())
        })
    }

    /// Makes item `id` due now with a fresh attempt budget whatever became of
    /// it: pending, dead-lettered or already delivered (sent again, same
    /// `webhook-id`). `NotFound` for unknown ids.
    pub async fn resend_notification(&self, id: i64) -> Result<(), StoreError> {
        let now = to_db(Utc::now());
        db_write!(self, |conn| {
            let n = diesel::update(outbox::table.filter(outbox::id.eq(id)))
                .set((
                    outbox::dead.eq(false),
                    outbox::attempts.eq(0),
                    outbox::next_attempt_at.eq(now),
                    outbox::sent_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}
