//! The call's timers as a table the machine owns (quinn-style): the machine
//! arms and disarms entries, the executor asks for the earliest deadline
//! (`Call::poll_timeout`) and hands the time back (`Call::handle_timeout`).
//! One executor timer per call instead of one per kind.

use crate::event::Timer;
use crate::playback::Millis;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timers {
    /// A handful of entries at most; a Vec beats a map at this size.
    armed: Vec<(Timer, Millis)>,
}

impl Timers {
    /// Arms `timer` at `at`, replacing its earlier deadline.
    pub fn arm(&mut self, timer: Timer, at: Millis) {
        match self.armed.iter_mut().find(|(t, _)| *t == timer) {
            Some(entry) => entry.1 = at,
            None => self.armed.push((timer, at)),
        }
    }

    pub fn disarm(&mut self, timer: &Timer) {
        self.armed.retain(|(t, _)| t != timer);
    }

    pub fn deadline(&self, timer: &Timer) -> Option<Millis> {
        self.armed
            .iter()
            .find(|(t, _)| t == timer)
            .map(|(_, at)| *at)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Millis> {
        self.armed.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the earliest timer due at `now`.
    pub fn take_due(&mut self, now: Millis) -> Option<Timer> {
        let (i, _) = self
            .armed
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at <= now)
            .min_by_key(|(_, (_, at))| *at)?;
        Some(self.armed.remove(i).0)
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_due_first_and_rearming_replaces() {
        let mut t = Timers::default();
        t.arm(Timer::Silence, 300);
        t.arm(Timer::Pace, 100);
        t.arm(Timer::Pace, 200);
        assert_eq!(t.next(), Some(200));
        assert_eq!(t.take_due(150), None);
        assert_eq!(t.take_due(400), Some(Timer::Pace));
        assert_eq!(t.take_due(400), Some(Timer::Silence));
        assert_eq!(t.next(), None);
        t.arm(Timer::Tool("c1".into()), 5);
        t.disarm(&Timer::Tool("c1".into()));
        assert_eq!(t.deadline(&Timer::Tool("c1".into())), None);
    }
}
