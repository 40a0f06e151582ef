//! The outbox in the store, on PostgreSQL and SQLite: queue order, claims,
//! failures and dead letters, manual retry, delivery bookkeeping, and that
//! two engine instances sharing a database never claim the same item.

use std::collections::HashMap;

use crate::store_support::{on_both, TestDb};
use chrono::{Duration, Utc};
use frontdesk::notify::Notification;
use frontdesk::store::{Store, StoreError};

fn slack(text: &str) -> Notification {
    Notification::Slack { text: text.into() }
}

#[tokio::test]
async fn lifecycle_of_an_outbox_item() {
    on_both(|store: Store, db: TestDb| async move {
        let now = Utc::now();
        let a = store
            .enqueue_notification(&slack("a"), Some("k-a"))
            .await
            .unwrap()
            .unwrap();
        let b = store
            .enqueue_notification(&slack("b"), None)
            .await
            .unwrap()
            .unwrap();
        let c = store
            .enqueue_notification(&slack("c"), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .enqueue_notification(&slack("a again"), Some("k-a"))
                .await
                .unwrap(),
            None,
            "same key, nothing queued"
        );

        let later = Utc::now() + Duration::seconds(1);
        let due = store.due_notifications(later, 2).await.unwrap();
        assert_eq!(
            due.iter().map(|i| i.id).collect::<Vec<_>>(),
            [a, b],
            "oldest first, limited"
        );
        assert_eq!(due[0].notification().unwrap(), slack("a"));
        assert_eq!(due[0].kind, "slack");
        assert_eq!(due[0].idempotency_key.as_deref(), Some("k-a"));
        assert!(store
            .due_notifications(now - Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty());

        // Claim: counted, hidden until the lease ends, claimable once.
        let lease = later + Duration::seconds(300);
        let claimed = store
            .claim_notification(a, later, lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.attempts, 1);
        assert!(store
            .claim_notification(a, later, lease)
            .await
            .unwrap()
            .is_none());
        let due: Vec<i64> = store
            .due_notifications(later, 10)
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(due, [b, c]);
        assert_eq!(
            store
                .claim_notification(
                    a,
                    lease + Duration::seconds(1),
                    lease + Duration::seconds(600)
                )
                .await
                .unwrap()
                .map(|i| i.attempts),
            Some(2),
            "an expired lease makes the item claimable again (the sender died)"
        );

        // A failure schedules the next attempt and keeps the error.
        store
            .mark_failed(b, "HTTP 503", later + Duration::seconds(5), false)
            .await
            .unwrap();
        let item = store
            .list_outbox(false)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == b)
            .unwrap();
        assert_eq!(item.last_error.as_deref(), Some("HTTP 503"));
        assert!(!item.dead);
        assert!(item.next_attempt_at > later);
        let long = "x".repeat(5000);
        store.mark_failed(b, &long, later, false).await.unwrap();
        let item = store
            .list_outbox(false)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == b)
            .unwrap();
        assert!(
            item.last_error.unwrap().len() <= 1000,
            "error text is bounded"
        );

        // Dead letters rest until retried by hand, with a fresh budget.
        store
            .claim_notification(c, later, lease)
            .await
            .unwrap()
            .unwrap();
        store
            .mark_failed(c, "connection refused", later, true)
            .await
            .unwrap();
        assert!(!store
            .due_notifications(later + Duration::days(1), 10)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == c));
        assert!(!store
            .list_outbox(false)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == c));
        let dead = store
            .list_outbox(true)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == c)
            .unwrap();
        assert!(dead.dead);
        assert_eq!(dead.attempts, 1);
        store.retry_notification(c).await.unwrap();
        let revived = store
            .due_notifications(Utc::now() + Duration::seconds(1), 10)
            .await
            .unwrap();
        let revived = revived.iter().find(|i| i.id == c).expect("due again");
        assert!(!revived.dead);
        assert_eq!(revived.attempts, 0);
        assert_eq!(
            revived.last_error.as_deref(),
            Some("connection refused"),
            "history kept"
        );

        // Delivered: gone from the queue, key still taken, not retryable.
        store.mark_sent(a).await.unwrap();
        assert!(!store
            .list_outbox(true)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == a));
        assert!(store
            .claim_notification(a, Utc::now() + Duration::days(1), lease)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            store
                .enqueue_notification(&slack("a"), Some("k-a"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.retry_notification(a).await, Err(StoreError::NotFound));
        assert_eq!(
            store.retry_notification(999_999).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(store.mark_sent(999_999).await, Err(StoreError::NotFound));
        assert_eq!(
            store.mark_failed(999_999, "x", later, true).await,
            Err(StoreError::NotFound)
        );
        // A late failure report from a worker whose lease ran out does not undo a delivery.
        store.mark_failed(a, "late", later, true).await.unwrap();
        assert!(!store
            .list_outbox(true)
            .await
            .unwrap()
            .iter()
            .any(|i| i.id == a));

        // Purging old deliveries releases their keys.
        assert_eq!(
            store
                .purge_sent_notifications(Utc::now() - Duration::hours(1))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .purge_sent_notifications(Utc::now() + Duration::seconds(1))
                .await
                .unwrap(),
            1
        );
        assert!(store
            .enqueue_notification(&slack("a"), Some("k-a"))
            .await
            .unwrap()
            .is_some());
        db
    })
    .await;
}

/// Two engine instances (two stores, one database) race for the same items:
/// every item is claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_hand_out_an_item_twice() {
    on_both(|first: Store, db: TestDb| async move {
        let second = db.store().await;
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(
                first
                    .enqueue_notification(&slack(&format!("n{i}")), None)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        let now = Utc::now() + Duration::seconds(1);
        let lease = now + Duration::seconds(300);
        let race = |store: Store, ids: Vec<i64>| {
            tokio::spawn(async move {
                let mut won = Vec::new();
                for id in ids {
                    if store
                        .claim_notification(id, now, lease)
                        .await
                        .unwrap()
                        .is_some()
                    {
                        won.push(id);
                    }
                }
                won
            })
        };
        let mut reversed = ids.clone();
        reversed.reverse();
        let tasks = [
            race(first.clone(), ids.clone()),
            race(second.clone(), reversed),
            race(first.clone(), ids.clone()),
            race(second.clone(), ids.clone()),
        ];
        let mut claims: HashMap<i64, usize> = HashMap::new();
        for t in tasks {
            for id in t.await.unwrap() {
                *claims.entry(id).or_default() += 1;
            }
        }
        for id in &ids {
            assert_eq!(
                claims.get(id),
                Some(&1),
                "item {id} claimed {:?} times",
                claims.get(id)
            );
        }
        db
    })
    .await;
}

/// Event webhooks: the ordering key holds an item behind the earlier ones of
/// its call (until they are sent or dead), attempts are kept per item, and a
/// delivered item can be sent again.
#[tokio::test]
async fn webhook_ordering_attempts_and_resend() {
    on_both(|store: Store, db: TestDb| async move {
        let hook = |event: &str, call: &str| Notification::Webhook {
            endpoint: "crm".into(),
            event: event.into(),
            id: format!("msg_{event}_{call}"),
            call_sid: Some(call.into()),
            body: "{}".into(),
        };
        let q = |n: Notification| {
            let store = store.clone();
            async move { store.enqueue_notification(&n, None).await.unwrap().unwrap() }
        };
        let started = q(hook("call.started", "CA1")).await;
        let ended = q(hook("call.ended", "CA1")).await;
        let other = q(hook("call.started", "CA2")).await;
        assert!(!store.blocked_by_earlier("crm:CA1", started).await.unwrap());
        assert!(store.blocked_by_earlier("crm:CA1", ended).await.unwrap());
        assert!(!store.blocked_by_earlier("crm:CA2", other).await.unwrap());

        // A dead head no longer holds its followers back.
        store
            .mark_failed(started, "HTTP 503", Utc::now(), true)
            .await
            .unwrap();
        assert!(!store.blocked_by_earlier("crm:CA1", ended).await.unwrap());

        for (attempt, status) in [(1, Some(503)), (2, None)] {
            store
                .record_attempt(&frontdesk::store::OutboxAttempt {
                    outbox_id: started,
                    attempt,
                    at: Utc::now(),
                    duration_ms: 7,
                    status_code: status,
                    error: Some(format!("attempt {attempt} failed")),
                })
                .await
                .unwrap();
        }
        let attempts = store.outbox_attempts(started).await.unwrap();
        assert_eq!(
            attempts
                .iter()
                .map(|a| (a.attempt, a.status_code))
                .collect::<Vec<_>>(),
            [(1, Some(503)), (2, None)]
        );
        assert!(store.outbox_attempts(ended).await.unwrap().is_empty());

        // Delivered, then sent again by the operator: due now, fresh budget.
        store.mark_sent(ended).await.unwrap();
        store.resend_notification(ended).await.unwrap();
        let due = store.due_notifications(Utc::now(), 10).await.unwrap();
        let item = due.iter().find(|i| i.id == ended).unwrap();
        assert_eq!((item.attempts, item.sent_at, item.dead), (0, None, false));
        assert_eq!(
            store.resend_notification(999_999).await,
            Err(StoreError::NotFound)
        );
        let recent = store.recent_outbox("webhook", 2).await.unwrap();
        assert_eq!(
            recent.iter().map(|i| i.id).collect::<Vec<_>>(),
            [other, ended]
        );
        db
    })
    .await;
}
