//! The in-memory session store (no REDIS_URL): one instance, same API.

use std::time::Duration;

use frontdesk::session::{Health, SessionError, SessionStore};
use serde_json::json;

#[tokio::test]
async fn ownership_is_this_instance_until_released() {
    let s = SessionStore::memory("solo".into());
    assert_eq!(s.instance_id(), "solo");
    assert!(!s.is_shared());
    assert_eq!(s.owner("CA1").await, None);
    s.claim("CA1").await;
    s.claim("CA2").await;
    assert_eq!(s.owner("CA1").await.as_deref(), Some("solo"));
    s.release("CA1").await;
    assert_eq!(s.owner("CA1").await, None);
    assert_eq!(s.owner("CA2").await.as_deref(), Some("solo"));
    assert_eq!(s.health(), Health::Ok);
}

#[tokio::test]
async fn loopback_forward_reaches_the_inbox_and_returns_the_answer() {
    let s = SessionStore::memory("solo".into());
    let mut inbox = s.inbox().unwrap();
    assert!(matches!(s.inbox(), Err(SessionError::InboxTaken)));
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            if req.payload["cmd"] == "ignore" {
                continue; // dropping the responder answers None at once
            }
            req.reply.send(Some(
                json!({"call": req.call_sid, "done": req.payload["cmd"]}),
            ));
        }
    });
    let answer = s
        .forward(
            "solo",
            "CA9",
            json!({"cmd": "hangup"}),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(answer, Some(json!({"call": "CA9", "done": "hangup"})));

    let started = std::time::Instant::now();
    let ignored = s
        .forward(
            "solo",
            "CA9",
            json!({"cmd": "ignore"}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(ignored, None);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "an unanswered request must not wait out its timeout"
    );

    // Another instance cannot be reached without Redis.
    let other = s
        .forward(
            "elsewhere",
            "CA9",
            json!({"cmd": "hangup"}),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(other, None);
}

#[tokio::test]
async fn clones_share_one_registry() {
    let a = SessionStore::memory("solo".into());
    let b = a.clone();
    a.claim("CA1").await;
    assert_eq!(b.owner("CA1").await.as_deref(), Some("solo"));
    assert!(a.begin_once("wh-1", Duration::from_secs(60)).await);
    assert!(!b.begin_once("wh-1", Duration::from_secs(60)).await);
}

#[tokio::test]
async fn retried_webhook_gets_the_stored_answer_once_acted_on() {
    let s = SessionStore::memory("solo".into());
    let ttl = Duration::from_secs(60);
    let key = "voice:CA1";
    assert!(s.begin_once(key, ttl).await, "first delivery acts");
    s.remember_response(key, "<Response><Say>hi</Say></Response>", ttl)
        .await;
    assert!(!s.begin_once(key, ttl).await, "a retry must not act again");
    assert_eq!(
        s.recall_response(key).await.as_deref(),
        Some("<Response><Say>hi</Say></Response>")
    );
    assert_eq!(s.recall_response("voice:CA2").await, None);
}

#[tokio::test]
async fn idempotency_keys_expire() {
    let s = SessionStore::memory("solo".into());
    let ttl = Duration::from_millis(100);
    assert!(s.begin_once("k", ttl).await);
    s.remember_response("k", "body", ttl).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.recall_response("k").await, None);
    assert!(s.begin_once("k", ttl).await);
}

#[tokio::test]
async fn rate_limit_uses_a_fixed_window_per_caller() {
    let s = SessionStore::memory("solo".into());
    let window = Duration::from_millis(300);
    for _ in 0..3 {
        assert!(s.allow("+15550001", 3, window).await);
    }
    assert!(!s.allow("+15550001", 3, window).await);
    assert!(
        s.allow("+15550002", 3, window).await,
        "limits are per caller"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        s.allow("+15550001", 3, window).await,
        "a new window starts afresh"
    );
    assert_eq!(s.fail_open_count(), 0);
}
