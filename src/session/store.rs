//! [`SessionStore`]: the live-call registry shared by engine instances, with
//! this instance's memory as the registry (single instance) or the fallback
//! (Redis unreachable).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::core::{millis, Core, Remote};
use super::error::SessionError;
use super::health::{Health, HealthTracker};
use super::inbox::{InboxRequest, RequestEnvelope, Responder};
use super::keys::Keys;
use super::link::RedisLink;
use super::local::LocalState;
use super::options::{SessionOptions, INBOX_CAPACITY};
use super::{heartbeat, listener};

/// Deletes an owner key only while it still names us, so a late release
/// cannot remove a claim another instance has since made.
const RELEASE_IF_OURS: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// INCR and the window's expiry in one step; setting the expiry whenever the
/// key has none (not only on the first hit) means a crash between the two
/// can never leave a counter that blocks a caller forever.
const RATE_HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n";

/// Cheap to clone; all clones share one registry. Background tasks (Redis
/// mode) stop when the last clone is dropped.
#[derive(Clone)]
pub struct SessionStore {
    core: Arc<Core>,
    _alive: Arc<watch::Sender<()>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("instance_id", &self.core.instance_id)
            .field("redis", &self.core.remote.is_some())
            .field("health", &self.health())
            .finish()
    }
}

/// A fresh instance id: unique per process start, so a restarted instance
/// never inherits the inbox or claims of its previous life.
pub fn generate_instance_id() -> String {
    format!("fd-{:016x}", rand::random::<u64>())
}

struct PendingGuard<'a> {
    remote: &'a Remote,
    request_id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.remote.pending.lock().remove(self.request_id);
    }
}

impl SessionStore {
    /// `REDIS_URL` set → Redis, otherwise in memory.
    pub async fn from_url(
        redis_url: Option<&str>,
        instance_id: String,
    ) -> Result<Self, SessionError> {
        match redis_url {
            Some(url) => Self::redis(url, instance_id).await,
            None => Ok(Self::memory(instance_id)),
        }
    }

    /// A single-instance registry in this process.
    pub fn memory(instance_id: String) -> Self {
        Self::memory_with(instance_id, SessionOptions::default())
    }

    pub fn memory_with(instance_id: String, opts: SessionOptions) -> Self {
        let (store, _) = Self::build(instance_id, opts, None);
        store
    }

    /// A registry shared through Redis. A malformed URL is an error; an
    /// unreachable Redis is not: the store starts degraded and keeps trying.
    /// Returns after the first connection attempt, so a reachable Redis is
    /// subscribed (and `forward` works) from the start.
    pub async fn redis(url: &str, instance_id: String) -> Result<Self, SessionError> {
        Self::redis_with(url, instance_id, SessionOptions::default()).await
    }

    pub async fn redis_with(
        url: &str,
        instance_id: String,
        opts: SessionOptions,
    ) -> Result<Self, SessionError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| SessionError::NoRuntime)?;
        let (link, client) = RedisLink::open(url, opts.op_timeout)?;
        let remote = Remote {
            link,
            client,
            handle: handle.clone(),
            pending: Mutex::new(HashMap::new()),
            subscribed: AtomicBool::new(false),
        };
        let (store, shutdown) = Self::build(instance_id, opts, Some(remote));
        let (first_tx, first_rx) = oneshot::channel();
        handle.spawn(listener::run(
            store.core.clone(),
            shutdown.clone(),
            first_tx,
        ));
        handle.spawn(heartbeat::run(store.core.clone(), shutdown));
        let _ = first_rx.await;
        store.core.heartbeat().await;
        Ok(store)
    }

    fn build(
        instance_id: String,
        opts: SessionOptions,
        remote: Option<Remote>,
    ) -> (Self, watch::Receiver<()>) {
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
        let (alive, shutdown) = watch::channel(());
        let core = Core {
            health: HealthTracker::new(&instance_id),
            keys: Keys::new(&opts.namespace),
            instance_id,
            opts,
            local: LocalState::default(),
            inbox_tx,
            inbox_rx: Mutex::new(Some(inbox_rx)),
            remote,
            fail_open: AtomicU64::new(0),
            resync: Notify::new(),
        };
        let store = Self {
            core: Arc::new(core),
            _alive: Arc::new(alive),
        };
        (store, shutdown)
    }

    pub fn instance_id(&self) -> &str {
        &self.core.instance_id
    }

    /// Whether this store shares state through Redis (even while degraded).
    pub fn is_shared(&self) -> bool {
        self.core.remote.is_some()
    }

    pub fn health(&self) -> Health {
        self.core.health.health()
    }

    /// How many rate-limit checks were let through unchecked because Redis
    /// was unreachable.
    pub fn fail_open_count(&self) -> u64 {
        self.core.fail_open.load(Ordering::Relaxed)
    }

    /// Records that this instance owns `call_sid` (it holds the media stream).
    pub async fn claim(&self, call_sid: &str) {
        let c = &self.core;
        c.local.claim(call_sid);
        let cmd = redis::cmd("SET")
            .arg(c.keys.owner(call_sid))
            .arg(&c.instance_id)
            .arg("PX")
            .arg(millis(c.opts.owner_ttl))
            .to_owned();
        let _: Option<()> = c.query(&cmd).await;
    }

    pub async fn release(&self, call_sid: &str) {
        let c = &self.core;
        c.local.release(call_sid);
        let cmd = redis::cmd("EVAL")
            .arg(RELEASE_IF_OURS)
            .arg(1)
            .arg(c.keys.owner(call_sid))
            .arg(&c.instance_id)
            .to_owned();
        let _: Option<i64> = c.query(&cmd).await;
    }

    /// The instance holding `call_sid`, if any live one does. While Redis is
    /// unreachable only this instance's own calls are known.
    pub async fn owner(&self, call_sid: &str) -> Option<String> {
        let c = &self.core;
        let cmd = redis::cmd("GET").arg(c.keys.owner(call_sid)).to_owned();
        let shared: Option<Option<String>> = c.query(&cmd).await;
        match shared.flatten() {
            Some(owner) => Some(owner),
            // Covers memory mode, an unreachable Redis, and a Redis restarted
            // before the heartbeat has re-registered our claims.
            None => c.local.is_claimed(call_sid).then(|| c.instance_id.clone()),
        }
    }

    /// Whether `instance` is alive, as far as the store can tell: it listens
    /// on its inbox. `None` when that cannot be known (Redis unreachable, or
    /// another instance while the store is in memory). A killed process
    /// drops its subscription at once, so this answers within a round trip
    /// while its owner keys still wait for their TTL.
    pub async fn is_listening(&self, instance: &str) -> Option<bool> {
        let c = &self.core;
        if instance == c.instance_id {
            return Some(true);
        }
        c.remote.as_ref()?;
        let cmd = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(c.keys.inbox(instance))
            .to_owned();
        let reply: Option<(String, u64)> = c.query(&cmd).await;
        reply.map(|(_, subscribers)| subscribers > 0)
    }

    /// Takes the stream of commands for calls this instance owns. Only one
    /// consumer exists; a second call is an error.
    pub fn inbox(&self) -> Result<mpsc::Receiver<InboxRequest>, SessionError> {
        self.core
            .inbox_rx
            .lock()
            .take()
            .ok_or(SessionError::InboxTaken)
    }

    /// Delivers `payload` to the call `call_sid` on instance `owner` and waits
    /// up to `timeout` for its answer. `Ok(None)`: no answer in time (or the
    /// owner is not listening, or is another instance in memory mode).
    /// `Err`: delivery could not even be attempted because Redis is down.
    pub async fn forward(
        &self,
        owner: &str,
        call_sid: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Option<Value>, SessionError> {
        let c = &self.core;
        if owner == c.instance_id {
            return Ok(self.loopback(call_sid, payload, timeout).await);
        }
        let Some(remote) = c.remote.as_ref() else {
            return Ok(None);
        };
        let deadline = tokio::time::Instant::now() + timeout;
        if !remote.subscribed.load(Ordering::SeqCst) {
            return Err(SessionError::Unavailable(
                "not subscribed to the reply channel (Redis unreachable)".into(),
            ));
        }
        let request_id = format!("{:032x}", rand::random::<u128>());
        let (tx, rx) = oneshot::channel();
        remote.pending.lock().insert(request_id.clone(), tx);
        let _guard = PendingGuard {
            remote,
            request_id: &request_id,
        };
        let envelope = RequestEnvelope {
            request_id: request_id.clone(),
            call_sid: call_sid.to_string(),
            payload,
            reply_channel: c.keys.reply(&c.instance_id),
        };
        let text = serde_json::to_string(&envelope)
            .map_err(|e| SessionError::Unavailable(e.to_string()))?;
        let published = remote.link.publish(&c.keys.inbox(owner), &text).await;
        let receivers = c
            .record(published, true)
            .ok_or_else(|| SessionError::Unavailable(self.health_reason()))?;
        if receivers == 0 {
            return Ok(None);
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => Ok(None),
        }
    }

    async fn loopback(&self, call_sid: &str, payload: Value, timeout: Duration) -> Option<Value> {
        let (tx, rx) = oneshot::channel();
        let request = InboxRequest {
            call_sid: call_sid.to_string(),
            payload,
            reply: Responder::local(tx),
        };
        self.core.inbox_tx.try_send(request).ok()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()?
    }

    fn health_reason(&self) -> String {
        match self.health() {
            Health::Degraded(reason) => reason,
            Health::Ok => "Redis unreachable".to_string(),
        }
    }

    /// Stores the answer to a webhook so a retry gets the same body.
    pub async fn remember_response(&self, key: &str, body: &str, ttl: Duration) {
        let c = &self.core;
        // Kept locally too, so a retry during a later outage still finds it.
        c.local.remember(key, body, ttl);
        let cmd = redis::cmd("SET")
            .arg(c.keys.response(key))
            .arg(body)
            .arg("PX")
            .arg(millis(ttl))
            .to_owned();
        let _: Option<()> = c.query(&cmd).await;
    }

    pub async fn recall_response(&self, key: &str) -> Option<String> {
        let c = &self.core;
        let cmd = redis::cmd("GET").arg(c.keys.response(key)).to_owned();
        let shared: Option<Option<String>> = c.query(&cmd).await;
        shared.flatten().or_else(|| c.local.recall(key))
    }

    /// True for exactly one caller per `key` within `ttl`, across instances:
    /// the one that must perform the side effect.
    pub async fn begin_once(&self, key: &str, ttl: Duration) -> bool {
        let c = &self.core;
        if c.local.has_begun(key) {
            return false;
        }
        let cmd = redis::cmd("SET")
            .arg(c.keys.once(key))
            .arg(&c.instance_id)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .to_owned();
        let shared: Option<Option<String>> = c.query(&cmd).await;
        match shared {
            Some(Some(_)) => {
                c.local.begin_once(key, ttl);
                true
            }
            Some(None) => false,
            None => c.local.begin_once(key, ttl),
        }
    }

    /// Fixed-window rate limit: true while `caller` has made at most `limit`
    /// attempts in the current `window`. Fails open while Redis is down.
    pub async fn allow(&self, caller: &str, limit: u32, window: Duration) -> bool {
        let c = &self.core;
        if c.remote.is_none() {
            return c.local.allow(caller, limit, window);
        }
        let cmd = redis::cmd("EVAL")
            .arg(RATE_HIT)
            .arg(1)
            .arg(c.keys.rate(caller))
            .arg(millis(window))
            .to_owned();
        let count: Option<u64> = c.query(&cmd).await;
        match count {
            Some(n) => n <= u64::from(limit),
            None => {
                c.count_fail_open();
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn memory_claims_are_local() {
        let s = SessionStore::memory("a".into());
        assert_eq!(s.owner("CA1").await, None);
        s.claim("CA1").await;
        assert_eq!(s.owner("CA1").await.as_deref(), Some("a"));
        s.release("CA1").await;
        assert_eq!(s.owner("CA1").await, None);
        assert_eq!(s.health(), Health::Ok);
        assert!(!s.is_shared());
    }

    #[tokio::test]
    async fn memory_loopback_and_foreign_forward() {
        let s = SessionStore::memory("a".into());
        let mut inbox = s.inbox().unwrap();
        assert!(matches!(s.inbox(), Err(SessionError::InboxTaken)));
        tokio::spawn(async move {
            while let Some(req) = inbox.recv().await {
                let answer = json!({"sid": req.call_sid, "echo": req.payload});
                req.reply.send(Some(answer));
            }
        });
        let got = s
            .forward("a", "CA1", json!("ping"), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(got, Some(json!({"sid": "CA1", "echo": "ping"})));
        let foreign = s
            .forward("b", "CA1", json!("ping"), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(foreign, None);
    }

    #[tokio::test]
    async fn loopback_without_consumer_times_out_as_none() {
        let s = SessionStore::memory("a".into());
        let _held = s.inbox().unwrap();
        let got = s
            .forward("a", "CA1", json!(1), Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn memory_idempotency_and_rate() {
        let s = SessionStore::memory("a".into());
        let ttl = Duration::from_secs(60);
        assert!(s.begin_once("k", ttl).await);
        assert!(!s.begin_once("k", ttl).await);
        assert_eq!(s.recall_response("k").await, None);
        s.remember_response("k", "<Response/>", ttl).await;
        assert_eq!(s.recall_response("k").await.as_deref(), Some("<Response/>"));
        assert!(s.allow("+1", 1, ttl).await);
        assert!(!s.allow("+1", 1, ttl).await);
        assert_eq!(s.fail_open_count(), 0);
    }

    #[test]
    fn instance_ids_differ() {
        assert_ne!(generate_instance_id(), generate_instance_id());
    }

    #[tokio::test]
    async fn bad_url_is_an_error() {
        let r = SessionStore::redis("http//nope", "a".into()).await;
        assert!(matches!(r, Err(SessionError::InvalidUrl(_))), "{r:?}");
    }
}
