//! The Redis-backed session store against the Redis at 127.0.0.1:6379. Each
//! test uses its own key namespace so tests can run in parallel.

use std::time::{Duration, Instant};

use frontdesk::session::{Health, SessionOptions, SessionStore};
use serde_json::json;

const REDIS: &str = "redis://127.0.0.1:6379";

fn fast_opts(ns: &str) -> SessionOptions {
    SessionOptions {
        owner_ttl: Duration::from_millis(800),
        heartbeat_every: Duration::from_millis(200),
        op_timeout: Duration::from_millis(500),
        reconnect_max_backoff: Duration::from_millis(200),
        namespace: ns.to_string(),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

async fn pair(ns: &str) -> (SessionStore, SessionStore) {
    let a = SessionStore::redis_with(REDIS, unique("a"), fast_opts(ns))
        .await
        .unwrap();
    let b = SessionStore::redis_with(REDIS, unique("b"), fast_opts(ns))
        .await
        .unwrap();
    assert_eq!(a.health(), Health::Ok, "Redis must be running at {REDIS}");
    assert_eq!(b.health(), Health::Ok);
    (a, b)
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn claims_are_visible_to_other_instances_and_released() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    assert!(a.is_shared());
    assert_eq!(b.owner("CA1").await, None);
    a.claim("CA1").await;
    assert_eq!(b.owner("CA1").await.as_deref(), Some(a.instance_id()));

    // A stale release by another instance must not remove A's claim.
    b.release("CA1").await;
    assert_eq!(b.owner("CA1").await.as_deref(), Some(a.instance_id()));

    a.release("CA1").await;
    assert_eq!(b.owner("CA1").await, None);
    assert_eq!(a.owner("CA1").await, None);
}

#[tokio::test]
async fn heartbeat_keeps_claims_alive_and_they_expire_when_the_owner_dies() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    a.claim("CA1").await;
    // Well past the 800 ms TTL: only the heartbeat can have kept it.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(b.owner("CA1").await.as_deref(), Some(a.instance_id()));

    let a_id = a.instance_id().to_string();
    drop(a);
    assert_eq!(b.owner("CA1").await.as_deref(), Some(a_id.as_str()));
    eventually(
        "the dead owner's key expires",
        Duration::from_secs(3),
        || async { b.owner("CA1").await.is_none() },
    )
    .await;
}

#[tokio::test]
async fn forward_reaches_the_owning_instance_and_returns_its_answer() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    let mut inbox = a.inbox().unwrap();
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            if req.payload["cmd"] == "ignore" {
                continue;
            }
            req.reply
                .send(Some(json!({"call": req.call_sid, "got": req.payload})));
        }
    });
    a.claim("CA7").await;
    let owner = b.owner("CA7").await.unwrap();
    let answer = b
        .forward(
            &owner,
            "CA7",
            json!({"cmd": "status", "n": 1}),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(
        answer,
        Some(json!({"call": "CA7", "got": {"cmd": "status", "n": 1}}))
    );

    // Concurrent requests are matched to their own replies.
    let mut joins = Vec::new();
    for n in 0..10 {
        let b = b.clone();
        let owner = owner.clone();
        joins.push(tokio::spawn(async move {
            b.forward(&owner, "CA7", json!({"n": n}), Duration::from_secs(2))
                .await
        }));
    }
    for (n, j) in joins.into_iter().enumerate() {
        let got = j.await.unwrap().unwrap();
        assert_eq!(got, Some(json!({"call": "CA7", "got": {"n": n}})));
    }

    // An unanswered request is answered None at once, not at the timeout.
    let started = Instant::now();
    let ignored = b
        .forward(
            &owner,
            "CA7",
            json!({"cmd": "ignore"}),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(ignored, None);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nobody listens for a dead instance: None without waiting.
    let started = Instant::now();
    let dead = b
        .forward("no-such-instance", "CA7", json!({}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(dead, None);
    assert!(started.elapsed() < Duration::from_secs(1));

    // Liveness as failover needs it: a listening instance, and one that is not.
    assert_eq!(b.is_listening(&owner).await, Some(true));
    assert_eq!(b.is_listening(b.instance_id()).await, Some(true));
    assert_eq!(b.is_listening("no-such-instance").await, Some(false));
}

#[tokio::test]
async fn forward_to_own_instance_is_loopback() {
    let ns = unique("fdtest");
    let (a, _b) = pair(&ns).await;
    let mut inbox = a.inbox().unwrap();
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            req.reply.send(Some(req.payload));
        }
    });
    let got = a
        .forward(a.instance_id(), "CA1", json!("x"), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got, Some(json!("x")));
}

#[tokio::test]
async fn webhook_side_effects_happen_once_across_instances() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    let ttl = Duration::from_secs(30);
    let key = "status:CA1:completed";
    let (first, second) = tokio::join!(a.begin_once(key, ttl), b.begin_once(key, ttl));
    assert!(
        first ^ second,
        "exactly one instance acts (got {first}, {second})"
    );
    assert!(!a.begin_once(key, ttl).await);
    assert!(!b.begin_once(key, ttl).await);

    assert_eq!(b.recall_response(key).await, None);
    a.remember_response(key, "<Response/>", ttl).await;
    assert_eq!(b.recall_response(key).await.as_deref(), Some("<Response/>"));
}

#[tokio::test]
async fn idempotency_keys_expire_in_redis() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    let ttl = Duration::from_millis(300);
    assert!(a.begin_once("k", ttl).await);
    a.remember_response("k", "body", ttl).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.recall_response("k").await, None);
    assert!(b.begin_once("k", ttl).await);
}

#[tokio::test]
async fn rate_limit_window_is_shared_and_resets() {
    let ns = unique("fdtest");
    let (a, b) = pair(&ns).await;
    let window = Duration::from_millis(600);
    let caller = "+15550100";
    assert!(a.allow(caller, 3, window).await);
    assert!(b.allow(caller, 3, window).await);
    assert!(a.allow(caller, 3, window).await);
    assert!(
        !b.allow(caller, 3, window).await,
        "the limit counts hits on every instance"
    );
    assert!(!a.allow(caller, 3, window).await);
    assert!(
        a.allow("+15550101", 3, window).await,
        "limits are per caller"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        b.allow(caller, 3, window).await,
        "a new window starts afresh"
    );
    assert_eq!(a.fail_open_count() + b.fail_open_count(), 0);
}

#[tokio::test]
async fn namespaces_do_not_see_each_other() {
    let (a, _) = pair(&unique("fdtest")).await;
    let (c, _) = pair(&unique("fdtest")).await;
    a.claim("CA1").await;
    assert_eq!(c.owner("CA1").await, None);
}
