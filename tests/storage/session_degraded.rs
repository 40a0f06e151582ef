//! A configured but unreachable Redis: the store starts anyway, degraded, and
//! every operation keeps working on this instance's own state.

use std::time::Duration;

use frontdesk::session::{Health, SessionError, SessionOptions, SessionStore};
use serde_json::json;

/// Port 1 is never a Redis; connecting is refused at once.
const DEAD: &str = "redis://127.0.0.1:1";

fn opts() -> SessionOptions {
    SessionOptions {
        op_timeout: Duration::from_millis(200),
        heartbeat_every: Duration::from_millis(200),
        reconnect_max_backoff: Duration::from_millis(200),
        ..SessionOptions::default()
    }
}

#[tokio::test]
async fn unreachable_redis_starts_degraded_with_a_reason() {
    let started = std::time::Instant::now();
    let s = SessionStore::redis_with(DEAD, "a".into(), opts())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "start must not hang on Redis"
    );
    assert!(s.is_shared());
    match s.health() {
        Health::Degraded(reason) => assert!(!reason.is_empty()),
        Health::Ok => panic!("an unreachable Redis must report degraded"),
    }
}

#[tokio::test]
async fn calls_are_tracked_locally_while_degraded() {
    let s = SessionStore::redis_with(DEAD, "a".into(), opts())
        .await
        .unwrap();
    s.claim("CA1").await;
    assert_eq!(s.owner("CA1").await.as_deref(), Some("a"));
    assert_eq!(s.owner("CA2").await, None);
    s.release("CA1").await;
    assert_eq!(s.owner("CA1").await, None);
    assert!(!s.health().is_ok());
}

#[tokio::test]
async fn webhooks_stay_idempotent_locally_while_degraded() {
    let s = SessionStore::redis_with(DEAD, "a".into(), opts())
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    assert!(s.begin_once("voice:CA1", ttl).await);
    assert!(!s.begin_once("voice:CA1", ttl).await);
    s.remember_response("voice:CA1", "<Response/>", ttl).await;
    assert_eq!(
        s.recall_response("voice:CA1").await.as_deref(),
        Some("<Response/>")
    );
}

#[tokio::test]
async fn rate_limit_fails_open_and_counts_it() {
    let s = SessionStore::redis_with(DEAD, "a".into(), opts())
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(s.allow("+15550001", 1, Duration::from_secs(60)).await);
    }
    assert_eq!(s.fail_open_count(), 3);
}

#[tokio::test]
async fn forwarding_works_locally_and_reports_remote_delivery_unavailable() {
    let s = SessionStore::redis_with(DEAD, "a".into(), opts())
        .await
        .unwrap();
    let mut inbox = s.inbox().unwrap();
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            req.reply.send(Some(json!({"ok": req.call_sid})));
        }
    });
    let own = s
        .forward("a", "CA1", json!({}), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(own, Some(json!({"ok": "CA1"})));
    let other = s
        .forward("b", "CA1", json!({}), Duration::from_secs(1))
        .await;
    assert!(
        matches!(other, Err(SessionError::Unavailable(_))),
        "{other:?}"
    );
}

#[tokio::test]
async fn malformed_url_is_an_error_at_once() {
    let r = SessionStore::redis("redis://[::1", "a".into()).await;
    assert!(matches!(r, Err(SessionError::InvalidUrl(_))), "{r:?}");
}
