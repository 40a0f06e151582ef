//! Whether the shared registry is reachable. Two independent links can fail
//! (command connections and the pub/sub connection); the store is degraded
//! while either is down, and operators hear about each transition once.

use parking_lot::Mutex;

/// What `/readyz` and the logs report about the session store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Redis is unreachable; calls are tracked in this instance only. The
    /// string is the last error seen.
    Degraded(String),
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Health::Ok)
    }
}

/// The link a health report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Commands,
    PubSub,
}

#[derive(Default)]
struct Links {
    commands: Option<String>,
    pubsub: Option<String>,
}

impl Links {
    fn slot(&mut self, link: Link) -> &mut Option<String> {
        match link {
            Link::Commands => &mut self.commands,
            Link::PubSub => &mut self.pubsub,
        }
    }

    fn health(&self) -> Health {
        match (&self.commands, &self.pubsub) {
            (None, None) => Health::Ok,
            (Some(c), None) => Health::Degraded(format!("redis: {c}")),
            (None, Some(p)) => Health::Degraded(format!("redis pub/sub: {p}")),
            (Some(c), Some(p)) => Health::Degraded(format!("redis: {c}; pub/sub: {p}")),
        }
    }
}

/// What a report changed, so the caller can react to a recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    Degraded,
    Recovered,
}

pub(crate) struct HealthTracker {
    instance_id: String,
    links: Mutex<Links>,
}

impl HealthTracker {
    pub(crate) fn new(instance_id: &str) -> Self {
        Self {
            instance_id: instance_id.to_string(),
            links: Mutex::new(Links::default()),
        }
    }

    pub(crate) fn health(&self) -> Health {
        self.links.lock().health()
    }

    pub(crate) fn failed(&self, link: Link, reason: impl std::fmt::Display) {
        self.set(link, Some(reason.to_string()));
    }

    /// Marks `link` healthy; true when it had been failing.
    pub(crate) fn ok(&self, link: Link) -> bool {
        self.set(link, None).1
    }

    fn set(&self, link: Link, value: Option<String>) -> (Transition, bool) {
        let (before, after, link_recovered) = {
            let mut links = self.links.lock();
            let before = links.health();
            let slot = links.slot(link);
            let link_recovered = slot.is_some() && value.is_none();
            *slot = value;
            (before, links.health(), link_recovered)
        };
        let transition = match (before.is_ok(), &after) {
            (true, Health::Degraded(reason)) => {
                tracing::warn!(
                    instance = %self.instance_id,
                    %reason,
                    "session store degraded: Redis unreachable, tracking calls locally"
                );
                Transition::Degraded
            }
            (false, Health::Ok) => {
                tracing::info!(instance = %self.instance_id, "session store recovered: Redis reachable again");
                Transition::Recovered
            }
            _ => Transition::None,
        };
        (transition, link_recovered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_ok() {
        assert_eq!(HealthTracker::new("i").health(), Health::Ok);
    }

    #[test]
    fn transitions_are_reported_once() {
        let h = HealthTracker::new("i");
        let failed = |why: &str| Some(why.to_string());
        assert_eq!(
            h.set(Link::Commands, failed("refused")).0,
            Transition::Degraded
        );
        assert_eq!(h.set(Link::Commands, failed("timeout")).0, Transition::None);
        assert_eq!(h.health(), Health::Degraded("redis: timeout".into()));
        assert_eq!(h.set(Link::Commands, None), (Transition::Recovered, true));
        assert_eq!(h.set(Link::Commands, None), (Transition::None, false));
    }

    #[test]
    fn degraded_until_both_links_recover() {
        let h = HealthTracker::new("i");
        h.failed(Link::Commands, "a");
        assert_eq!(h.set(Link::PubSub, Some("b".into())).0, Transition::None);
        assert_eq!(h.health(), Health::Degraded("redis: a; pub/sub: b".into()));
        // The link itself recovered even though the store is still degraded.
        assert_eq!(h.set(Link::Commands, None), (Transition::None, true));
        assert_eq!(h.health(), Health::Degraded("redis pub/sub: b".into()));
        assert!(h.ok(Link::PubSub));
        assert!(h.health().is_ok());
    }
}
