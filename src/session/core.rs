//! State shared by every clone of a store and its background tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deadpool_redis::redis::{self, FromRedisValue};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, Notify};

use super::error::RedisOpError;
use super::health::{HealthTracker, Link};
use super::inbox::InboxRequest;
use super::keys::Keys;
use super::link::RedisLink;
use super::local::LocalState;
use super::options::SessionOptions;

pub(crate) struct Core {
    pub(crate) instance_id: String,
    pub(crate) opts: SessionOptions,
    pub(crate) keys: Keys,
    pub(crate) local: LocalState,
    pub(crate) health: HealthTracker,
    pub(crate) inbox_tx: mpsc::Sender<InboxRequest>,
    pub(crate) inbox_rx: Mutex<Option<mpsc::Receiver<InboxRequest>>>,
    /// `None` in memory mode.
    pub(crate) remote: Option<Remote>,
    pub(crate) fail_open: AtomicU64,
    /// Wakes the heartbeat early when Redis comes back, so claims made while
    /// it was down reach the shared registry without waiting a full interval.
    pub(crate) resync: Notify,
}

pub(crate) struct Remote {
    pub(crate) link: RedisLink,
    pub(crate) client: redis::Client,
    pub(crate) handle: Handle,
    /// Outstanding `forward` calls by request id, completed by the listener.
    pub(crate) pending: Mutex<HashMap<String, oneshot::Sender<Option<Value>>>>,
    /// Whether the listener currently holds a live subscription; a reply
    /// published while it does not would be lost.
    pub(crate) subscribed: AtomicBool,
}

impl Core {
    /// Runs a command against Redis, recording the link's health; `None`
    /// means "use local state" (memory mode or Redis failed).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let remote = self.remote.as_ref()?;
        let result = remote.link.query(cmd).await;
        self.record(result, true)
    }

    pub(crate) async fn query_pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        resync_on_recovery: bool,
    ) -> Option<T> {
        let remote = self.remote.as_ref()?;
        let result = remote.link.query_pipe(pipe).await;
        self.record(result, resync_on_recovery)
    }

    pub(crate) fn record<T>(
        &self,
        result: Result<T, RedisOpError>,
        resync_on_recovery: bool,
    ) -> Option<T> {
        match result {
            Ok(v) => {
                if self.health.ok(Link::Commands) && resync_on_recovery {
                    self.resync.notify_one();
                }
                Some(v)
            }
            Err(e) => {
                self.health.failed(Link::Commands, e);
                None
            }
        }
    }

    pub(crate) fn count_fail_open(&self) {
        self.fail_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Rewrites every local claim with a fresh TTL (or, with none, checks
    /// Redis is alive), so owner keys outlive the TTL only while we do.
    pub(crate) async fn heartbeat(&self) {
        let claims = self.local.claims();
        let mut pipe = redis::pipe();
        if claims.is_empty() {
            pipe.cmd("PING").ignore();
        }
        let ttl_ms = millis(self.opts.owner_ttl);
        for sid in &claims {
            pipe.cmd("SET")
                .arg(self.keys.owner(sid))
                .arg(&self.instance_id)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        let _: Option<()> = self.query_pipe(&pipe, false).await;
    }
}

/// Redis expiries are in whole milliseconds and must be positive.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiries_are_positive_whole_milliseconds() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
    }
}
