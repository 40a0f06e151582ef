//! Timings and naming for a [`SessionStore`](super::SessionStore); the
//! defaults suit production, tests shrink them.

use std::time::Duration;

/// How long an owner key lives without a heartbeat. Long enough to ride out
/// two missed heartbeats (a GC-free process only misses one under heavy load),
/// short enough that a crashed instance's calls are released within a minute.
pub const OWNER_TTL: Duration = Duration::from_secs(30);

/// Heartbeats run three times per TTL so one lost heartbeat never lets a live
/// call's owner key lapse.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// Upper bound on every Redis round trip. Twilio gives a webhook 15 s and the
/// caller hears silence while we wait, so a stalled Redis must cost at most a
/// fraction of a second before we fall back to local state; a healthy Redis on
/// the same network answers in about a millisecond, so this never trips by accident.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);

/// Cap on the pub/sub reconnect backoff: a Redis restart is noticed within this
/// long, while a long outage costs one connection attempt per interval.
pub const RECONNECT_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Requests from other instances queue here until the engine takes them; a
/// full queue means the engine is stuck, and the requester is told "no answer".
pub const INBOX_CAPACITY: usize = 256;

/// Tunables of a session store.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Lifetime of an owner key between heartbeats.
    pub owner_ttl: Duration,
    /// Interval of the ownership heartbeat (also the Redis health probe).
    pub heartbeat_every: Duration,
    /// Bound on each Redis operation.
    pub op_timeout: Duration,
    /// Longest wait between pub/sub reconnect attempts.
    pub reconnect_max_backoff: Duration,
    /// Prefix of every Redis key and channel (`frontdesk` in production); lets
    /// several deployments or test runs share one Redis without colliding.
    pub namespace: String,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            owner_ttl: OWNER_TTL,
            heartbeat_every: HEARTBEAT_EVERY,
            op_timeout: OP_TIMEOUT,
            reconnect_max_backoff: RECONNECT_MAX_BACKOFF,
            namespace: "frontdesk".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_fits_several_times_into_the_ttl() {
        let o = SessionOptions::default();
        assert!(o.heartbeat_every * 2 < o.owner_ttl);
        assert!(o.op_timeout < o.heartbeat_every);
        assert_eq!(o.namespace, "frontdesk");
    }
}
