//! Twilio's outbound playback buffer, emulated on an explicit clock.
//!
//! Twilio plays queued `media` in order at real time, echoes a `mark` once all
//! audio queued before it has played (at once if nothing is queued), and on
//! `clear` drops the queued audio and echoes every outstanding mark. Keeping
//! this a pure struct lets the mark/clear rules be tested without sockets.

use std::collections::VecDeque;

use crate::audio::BYTES_PER_MS;

#[derive(Debug)]
enum Entry {
    Audio { bytes: Vec<u8>, position: usize },
    Mark(String),
}

/// What a `clear` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cleared {
    /// Marks echoed by the clear, in queue order.
    pub echoed: Vec<String>,
    /// Queued audio that was dropped unplayed, in bytes.
    pub dropped_bytes: usize,
}

/// The playback buffer. Invariant: the queue never starts with a mark (marks
/// reached by playback are echoed and removed immediately).
#[derive(Debug, Default)]
pub struct Playback {
    queue: VecDeque<Entry>,
    /// Clock in bytes of audio time (8 per ms) so odd-sized media stays exact.
    now_bytes: u64,
    queued_bytes: usize,
    pushed_bytes: u64,
    heard: Vec<u8>,
    last_drained_bytes: Option<u64>,
}

impl Playback {
    pub fn new() -> Self {
        Self::default()
    }

    /// The playback clock in ms (only moved by [`Playback::advance`]).
    pub fn now_ms(&self) -> u64 {
        self.now_bytes / BYTES_PER_MS as u64
    }

    /// Whether any audio is queued, i.e. the caller hears the engine right now.
    pub fn is_playing(&self) -> bool {
        self.queued_bytes > 0
    }

    /// Audio waiting to be played, in ms (rounded up).
    pub fn queued_ms(&self) -> u64 {
        (self.queued_bytes as u64).div_ceil(BYTES_PER_MS as u64)
    }

    /// Total audio ever queued (cleared audio included), in bytes.
    pub fn pushed_bytes(&self) -> u64 {
        self.pushed_bytes
    }

    /// Everything played so far, in order.
    pub fn heard(&self) -> &[u8] {
        &self.heard
    }

    /// Clock time (ms) at which the queue last ran empty, by playing out or by
    /// a clear; `None` if audio has never been queued.
    pub fn last_drained_ms(&self) -> Option<u64> {
        self.last_drained_bytes.map(|b| b / BYTES_PER_MS as u64)
    }

    /// Queues outbound audio behind whatever is already queued.
    pub fn push_media(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.queued_bytes += bytes.len();
        self.pushed_bytes += bytes.len() as u64;
        self.queue.push_back(Entry::Audio {
            bytes: bytes.to_vec(),
            position: 0,
        });
    }

    /// Queues a mark; returns it straight back if nothing is queued, which is
    /// when Twilio echoes it immediately.
    pub fn push_mark(&mut self, name: String) -> Option<String> {
        if self.queue.is_empty() {
            return Some(name);
        }
        self.queue.push_back(Entry::Mark(name));
        None
    }

    /// Plays `ms` of audio; returns the marks playback reached, in order.
    pub fn advance(&mut self, ms: u64) -> Vec<String> {
        let start = self.now_bytes;
        let mut budget = ms.saturating_mul(BYTES_PER_MS as u64);
        self.now_bytes = self.now_bytes.saturating_add(budget);
        let mut echoed = Vec::new();
        while let Some(front) = self.queue.front_mut() {
            match front {
                Entry::Mark(_) => {
                    if let Some(Entry::Mark(name)) = self.queue.pop_front() {
                        echoed.push(name);
                    }
                }
                Entry::Audio { bytes, position } => {
                    if budget == 0 {
                        break;
                    }
                    let remaining = bytes.len() - *position;
                    let take = remaining.min(usize::try_from(budget).unwrap_or(usize::MAX));
                    self.heard
                        .extend_from_slice(&bytes[*position..*position + take]);
                    *position += take;
                    budget -= take as u64;
                    self.queued_bytes -= take;
                    if *position == bytes.len() {
                        self.queue.pop_front();
                        if self.queued_bytes == 0 {
                            let played = ms.saturating_mul(BYTES_PER_MS as u64) - budget;
                            self.last_drained_bytes = Some(start + played);
                        }
                    }
                }
            }
        }
        echoed
    }

    /// Drops all queued audio and echoes every outstanding mark.
    pub fn clear(&mut self) -> Cleared {
        let mut cleared = Cleared {
            dropped_bytes: self.queued_bytes,
            ..Cleared::default()
        };
        for entry in self.queue.drain(..) {
            if let Entry::Mark(name) = entry {
                cleared.echoed.push(name);
            }
        }
        if self.queued_bytes > 0 {
            self.last_drained_bytes = Some(self.now_bytes);
        }
        self.queued_bytes = 0;
        cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_of_audio(ms: usize, value: u8) -> Vec<u8> {
        vec![value; ms * BYTES_PER_MS]
    }

    #[test]
    fn mark_with_nothing_queued_echoes_at_once() {
        let mut p = Playback::new();
        assert_eq!(p.push_mark("a".into()), Some("a".into()));
        assert!(!p.is_playing());
        assert!(p.advance(100).is_empty());
        assert_eq!(p.last_drained_ms(), None);
    }

    #[test]
    fn marks_echo_when_playback_reaches_them() {
        let mut p = Playback::new();
        p.push_media(&ms_of_audio(100, 1));
        assert_eq!(p.push_mark("r1:100".into()), None);
        p.push_media(&ms_of_audio(50, 2));
        assert_eq!(p.push_mark("r1:150".into()), None);
        assert!(p.is_playing());
        assert_eq!(p.queued_ms(), 150);

        assert!(p.advance(99).is_empty());
        assert_eq!(p.advance(1), vec!["r1:100".to_string()]);
        assert_eq!(p.heard().len(), 800);
        assert!(p.is_playing());
        assert_eq!(p.advance(80), vec!["r1:150".to_string()]);
        assert!(!p.is_playing());
        assert_eq!(p.heard().len(), 1200);
        assert_eq!(&p.heard()[799..801], &[1, 2]);
        assert_eq!(p.last_drained_ms(), Some(150));
        assert_eq!(p.now_ms(), 180);
    }

    #[test]
    fn adjacent_marks_echo_together_in_order() {
        let mut p = Playback::new();
        p.push_media(&ms_of_audio(20, 1));
        p.push_mark("x".into());
        p.push_mark("y".into());
        assert_eq!(p.advance(20), vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn clear_drops_audio_and_echoes_pending_marks() {
        let mut p = Playback::new();
        p.push_media(&ms_of_audio(200, 1));
        p.push_mark("g1:200".into());
        p.push_media(&ms_of_audio(100, 2));
        p.push_mark("g1:300".into());
        assert!(p.advance(50).is_empty());
        let cleared = p.clear();
        assert_eq!(
            cleared.echoed,
            vec!["g1:200".to_string(), "g1:300".to_string()]
        );
        assert_eq!(cleared.dropped_bytes, 250 * BYTES_PER_MS);
        assert!(!p.is_playing());
        assert_eq!(p.heard().len(), 50 * BYTES_PER_MS);
        assert_eq!(p.last_drained_ms(), Some(50));
        assert_eq!(p.pushed_bytes(), 300 * BYTES_PER_MS as u64);
        // Nothing queued after the clear: the next mark echoes at once.
        assert_eq!(p.push_mark("g2:0".into()), Some("g2:0".into()));
        assert_eq!(p.clear(), Cleared::default());
    }

    #[test]
    fn odd_sized_media_is_played_exactly() {
        let mut p = Playback::new();
        p.push_media(&[5; 13]);
        p.push_mark("m".into());
        assert!(p.advance(1).is_empty());
        assert_eq!(p.advance(1), vec!["m".to_string()]);
        assert_eq!(p.heard().len(), 13);
        assert_eq!(p.last_drained_ms(), Some(1));
        p.push_media(&[6; 3]);
        assert_eq!(p.queued_ms(), 1);
        p.advance(10);
        assert_eq!(p.heard().len(), 16);
        assert_eq!(p.last_drained_ms(), Some(2));
    }

    #[test]
    fn idle_time_is_not_credited_to_later_audio() {
        let mut p = Playback::new();
        p.advance(1000);
        p.push_media(&ms_of_audio(40, 1));
        p.advance(20);
        assert!(p.is_playing());
        assert_eq!(p.queued_ms(), 20);
        p.advance(20);
        assert_eq!(p.last_drained_ms(), Some(1040));
    }
}
