//! This instance's own view: the whole registry in memory mode, and the
//! fallback (plus the list of claims the heartbeat keeps alive) in Redis mode.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Expired entries are swept after this many writes, so a busy instance's maps
/// stay bounded by traffic within one TTL without a background task.
const SWEEP_EVERY: u32 = 256;

struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    writes: u32,
}

impl<V> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            writes: 0,
        }
    }
}

impl<V> ExpiringMap<V> {
    fn live(&self, key: &str, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(v, _)| v)
    }

    fn live_mut(&mut self, key: &str, now: Instant) -> Option<&mut V> {
        self.entries
            .get_mut(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(v, _)| v)
    }

    fn insert(&mut self, key: &str, value: V, expires: Instant, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes % SWEEP_EVERY == 0 {
            self.entries.retain(|_, (_, e)| *e > now);
        }
        self.entries.insert(key.to_string(), (value, expires));
    }
}

#[derive(Default)]
pub(crate) struct LocalState {
    claims: Mutex<HashSet<String>>,
    responses: Mutex<ExpiringMap<String>>,
    once: Mutex<ExpiringMap<()>>,
    rates: Mutex<ExpiringMap<u32>>,
}

impl LocalState {
    pub(crate) fn claim(&self, call_sid: &str) {
        self.claims.lock().insert(call_sid.to_string());
    }

    pub(crate) fn release(&self, call_sid: &str) {
        self.claims.lock().remove(call_sid);
    }

    pub(crate) fn is_claimed(&self, call_sid: &str) -> bool {
        self.claims.lock().contains(call_sid)
    }

    pub(crate) fn claims(&self) -> Vec<String> {
        self.claims.lock().iter().cloned().collect()
    }

    pub(crate) fn remember(&self, key: &str, body: &str, ttl: Duration) {
        let now = Instant::now();
        self.responses
            .lock()
            .insert(key, body.to_string(), now + ttl, now);
    }

    pub(crate) fn recall(&self, key: &str) -> Option<String> {
        self.responses.lock().live(key, Instant::now()).cloned()
    }

    /// Whether `key` was begun here and has not expired.
    pub(crate) fn has_begun(&self, key: &str) -> bool {
        self.once.lock().live(key, Instant::now()).is_some()
    }

    /// Records `key` as begun; false when it already was.
    pub(crate) fn begin_once(&self, key: &str, ttl: Duration) -> bool {
        self.begin_once_at(key, ttl, Instant::now())
    }

    fn begin_once_at(&self, key: &str, ttl: Duration, now: Instant) -> bool {
        let mut once = self.once.lock();
        if once.live(key, now).is_some() {
            return false;
        }
        once.insert(key, (), now + ttl, now);
        true
    }

    /// Fixed-window counter: true while `caller` has made at most `limit`
    /// attempts in the current window.
    pub(crate) fn allow(&self, caller: &str, limit: u32, window: Duration) -> bool {
        self.allow_at(caller, limit, window, Instant::now())
    }

    fn allow_at(&self, caller: &str, limit: u32, window: Duration, now: Instant) -> bool {
        let mut rates = self.rates.lock();
        let count = match rates.live_mut(caller, now) {
            Some(count) => {
                *count = count.saturating_add(1);
                *count
            }
            None => {
                rates.insert(caller, 1, now + window, now);
                1
            }
        };
        count <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_a_set() {
        let s = LocalState::default();
        s.claim("CA1");
        s.claim("CA1");
        s.claim("CA2");
        assert!(s.is_claimed("CA1"));
        let mut all = s.claims();
        all.sort();
        assert_eq!(all, vec!["CA1", "CA2"]);
        s.release("CA1");
        assert!(!s.is_claimed("CA1"));
        assert_eq!(s.claims(), vec!["CA2"]);
    }

    #[test]
    fn responses_expire() {
        let s = LocalState::default();
        s.remember("k", "<Response/>", Duration::from_millis(30));
        assert_eq!(s.recall("k").as_deref(), Some("<Response/>"));
        assert_eq!(s.recall("other"), None);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(s.recall("k"), None);
    }

    #[test]
    fn first_begin_wins_until_expiry() {
        let s = LocalState::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        assert!(s.begin_once_at("k", ttl, t0));
        assert!(!s.begin_once_at("k", ttl, t0 + Duration::from_secs(9)));
        assert!(s.begin_once_at("k", ttl, t0 + Duration::from_secs(11)));
        assert!(s.begin_once_at("j", ttl, t0));
    }

    #[test]
    fn rate_window_is_fixed() {
        let s = LocalState::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        assert!(s.allow_at("+1", 2, w, t0));
        assert!(s.allow_at("+1", 2, w, t0 + Duration::from_secs(1)));
        assert!(!s.allow_at("+1", 2, w, t0 + Duration::from_secs(2)));
        assert!(s.allow_at("+2", 2, w, t0 + Duration::from_secs(2)));
        // A fresh window starts after the first one ends, not a sliding one.
        assert!(s.allow_at("+1", 2, w, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn expired_entries_are_swept() {
        let s = LocalState::default();
        let t0 = Instant::now();
        for i in 0..SWEEP_EVERY {
            s.begin_once_at(&format!("k{i}"), Duration::from_secs(1), t0);
        }
        let later = t0 + Duration::from_secs(2);
        for i in 0..SWEEP_EVERY {
            s.begin_once_at(&format!("j{i}"), Duration::from_secs(1), later);
        }
        assert!(s.once.lock().entries.len() <= SWEEP_EVERY as usize);
    }
}
