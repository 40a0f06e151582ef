//! What the caller has heard: outbound pacing, marks and the truncate point.
//!
//! Pure bookkeeping, driven by the state machine with an explicit clock. Each
//! assistant audio item gets a *generation*; audio sent to Twilio is followed
//! by a mark named `"{generation}:{ms sent so far in the item}"` — not after
//! every chunk but once per [`MARK_EVERY_MS`] of audio, at the end of an item
//! and when its response is done, so a 20 ms model delta costs no mark frame
//! and no echo. Twilio echoes a mark once the audio before it has played — or
//! at once after a `clear`, which is why marks of cleared generations must be
//! ignored. Between echoes the play position runs on at real time, which is
//! what the truncate point interpolates (see [`Playback::interrupt`]).

use std::collections::VecDeque;

/// Milliseconds on the call's monotonic clock.
pub type Millis = u64;

/// G.711 mu-law at 8 kHz: 8 bytes per millisecond.
pub const PCMU_BYTES_PER_MS: u64 = 8;

/// At most one mark per this much audio sent. Barge-in truncation
/// interpolates between echoes at real time, so sparser marks cost no
/// precision; each mark is two WebSocket frames (the mark and its echo).
pub const MARK_EVERY_MS: u64 = 100;

/// The most audio a call keeps waiting for Twilio. A model generates faster
/// than real time, but a minute ahead is already far more than any answer;
/// past it a broken or hostile endpoint would only grow the call's memory,
/// so further audio is dropped (and counted in [`Playback::dropped_ms`]).
pub const MAX_QUEUED_MS: Millis = 60_000;

/// Decoded length of a base64 string, without decoding it.
pub fn base64_decoded_len(b64: &str) -> u64 {
    let bytes = b64.as_bytes();
    let len = bytes.len() as u64;
    let pad = bytes.iter().rev().take(2).filter(|&&b| b == b'=').count() as u64;
    // Unpadded input: a trailing group of 2 or 3 characters carries 1 or 2 bytes.
    let tail = match len % 4 {
        2 => 1,
        3 => 2,
        _ => 0,
    };
    ((len / 4) * 3 + tail).saturating_sub(pad)
}

/// Milliseconds of mu-law audio in a base64 payload.
pub fn pcmu_ms(b64: &str) -> u64 {
    base64_decoded_len(b64) / PCMU_BYTES_PER_MS
}

/// Something to tell Twilio, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Media(String),
    Mark(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct Chunk {
    generation: u32,
    /// The audio itself is no state worth showing: its length is `ms`.
    #[serde(skip)]
    payload: String,
    /// Item-relative ms once this chunk has been sent.
    end_ms: u64,
    ms: u64,
}

/// One assistant audio item as the caller experiences it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemPlayback {
    pub generation: u32,
    pub item_id: String,
    pub response_id: String,
    /// Audio the model generated for this item.
    pub generated_ms: u64,
    /// Audio released to Twilio.
    pub sent_ms: u64,
    /// Audio Twilio confirmed as played (by mark echo).
    pub played_ms: u64,
    /// When the last mark of this item came back.
    pub acked_at: Option<Millis>,
    /// Its response is done: no more audio will join this item, so its
    /// last chunk carries a mark (the machine waits for it to end turns).
    pub complete: bool,
}

impl ItemPlayback {
    fn unplayed(&self) -> bool {
        self.played_ms < self.generated_ms
    }
}

/// Where to cut the assistant item after a barge-in.
#[derive(Debug, Clone, PartialEq)]
pub struct TruncatePoint {
    pub item_id: String,
    pub audio_end_ms: u64,
    /// Share of the item the caller heard, to cut its transcript alike.
    pub heard_fraction: f32,
}

/// The result of a barge-in on the playback.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interruption {
    /// Twilio still had (or was about to get) audio: send `clear`.
    pub clear: bool,
    /// `None` when nothing of the item was played: no truncate is sent.
    pub truncate: Option<TruncatePoint>,
    /// Responses whose remaining audio must be dropped.
    pub cancelled_responses: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Playback {
    lead_ms: u64,
    margin_ms: u64,
    stream_ready: bool,
    next_generation: u32,
    items: VecDeque<ItemPlayback>,
    queue: VecDeque<Chunk>,
    /// Milliseconds of audio in `queue`.
    queued_ms: Millis,
    /// Audio refused because the queue was full.
    dropped_ms: Millis,
    /// When everything released so far will have finished playing.
    play_until: Millis,
    cancelled: VecDeque<String>,
    /// Audio sent since the last mark: `(generation, item ms at its end,
    /// ms of audio not yet covered by a mark)`.
    unmarked: Option<(u32, u64, u64)>,
}

/// How many cancelled response ids to remember; late deltas only ever come
/// from the last one or two.
const CANCELLED_MEMORY: usize = 8;

impl Playback {
    pub fn new(lead_ms: u64, margin_ms: u64) -> Self {
        Playback {
            lead_ms,
            margin_ms,
            stream_ready: false,
            next_generation: 1,
            items: VecDeque::new(),
            queue: VecDeque::new(),
            queued_ms: 0,
            dropped_ms: 0,
            play_until: 0,
            cancelled: VecDeque::new(),
            unmarked: None,
        }
    }

    /// Twilio's stream is up: queued audio may flow.
    pub fn stream_started(&mut self, now: Millis) -> Vec<Outbound> {
        self.stream_ready = true;
        self.play_until = now;
        self.drain(now)
    }

    /// The stream closed (the call left it): nothing more can be sent until
    /// a new one starts.
    pub fn stream_stopped(&mut self) {
        self.stream_ready = false;
        self.reset();
    }

    pub fn is_cancelled(&self, response_id: &str) -> bool {
        self.cancelled.iter().any(|r| r == response_id)
    }

    /// Audio refused so far because [`MAX_QUEUED_MS`] were already waiting.
    pub fn dropped_ms(&self) -> Millis {
        self.dropped_ms
    }

    /// Audio from the model. Returns what may be sent now (pacing permitting).
    pub fn push(
        &mut self,
        response_id: &str,
        item_id: &str,
        payload: String,
        now: Millis,
    ) -> Vec<Outbound> {
        if self.is_cancelled(response_id) {
            return Vec::new();
        }
        let ms = pcmu_ms(&payload);
        if self.queued_ms + ms > MAX_QUEUED_MS {
            self.dropped_ms += ms;
            return self.drain(now);
        }
        let generation = match self.items.back_mut() {
            Some(item) if item.item_id == item_id => {
                item.generated_ms += ms;
                item.generation
            }
            _ => {
                let generation = self.next_generation;
                self.next_generation += 1;
                self.items.push_back(ItemPlayback {
                    generation,
                    item_id: item_id.to_string(),
                    response_id: response_id.to_string(),
                    generated_ms: ms,
                    sent_ms: 0,
                    played_ms: 0,
                    acked_at: None,
                    complete: false,
                });
                generation
            }
        };
        let end_ms = self.items.back().map(|i| i.generated_ms).unwrap_or(ms);
        self.queue.push_back(Chunk {
            generation,
            payload,
            end_ms,
            ms,
        });
        self.queued_ms += ms;
        self.drain(now)
    }

    /// Releases queued audio while the lead over real time stays bounded.
    ///
    /// A mark follows the released audio once [`MARK_EVERY_MS`] of it are
    /// unmarked, before audio of the next item, and after the last chunk of
    /// a complete item; otherwise the audio is marked by a later call.
    pub fn drain(&mut self, now: Millis) -> Vec<Outbound> {
        let mut out = Vec::new();
        if !self.stream_ready {
            return out;
        }
        while self.play_until.saturating_sub(now) < self.lead_ms {
            let Some(chunk) = self.queue.pop_front() else {
                break;
            };
            self.queued_ms = self.queued_ms.saturating_sub(chunk.ms);
            if self.unmarked.is_some_and(|(g, ..)| g != chunk.generation) {
                self.mark_sent(&mut out);
            }
            self.play_until = self.play_until.max(now) + chunk.ms;
            let mut complete = false;
            if let Some(item) = self
                .items
                .iter_mut()
                .find(|i| i.generation == chunk.generation)
            {
                item.sent_ms = chunk.end_ms;
                complete = item.complete;
            }
            out.push(Outbound::Media(chunk.payload));
            let pending = self.unmarked.map_or(0, |(.., ms)| ms) + chunk.ms;
            self.unmarked = Some((chunk.generation, chunk.end_ms, pending));
            let item_ends = match self.queue.front() {
                Some(next) => next.generation != chunk.generation,
                None => complete,
            };
            if pending >= MARK_EVERY_MS || item_ends {
                self.mark_sent(&mut out);
            }
        }
        out
    }

    /// The response's audio is complete: mark what was sent of it if nothing
    /// of it is still queued (otherwise its last chunk will carry the mark).
    pub fn response_done(&mut self, response_id: &str) -> Vec<Outbound> {
        let mut out = Vec::new();
        for item in self.items.iter_mut() {
            if item.response_id == response_id {
                item.complete = true;
            }
        }
        let Some((generation, ..)) = self.unmarked else {
            return out;
        };
        let done = self
            .items
            .iter()
            .any(|i| i.generation == generation && i.complete);
        let queued = self.queue.iter().any(|c| c.generation == generation);
        if done && !queued {
            self.mark_sent(&mut out);
        }
        out
    }

    fn mark_sent(&mut self, out: &mut Vec<Outbound>) {
        if let Some((generation, end_ms, _)) = self.unmarked.take() {
            out.push(Outbound::Mark(format!("{generation}:{end_ms}")));
        }
    }

    /// When to call `drain` again, if audio is waiting.
    pub fn next_drain_at(&self) -> Option<Millis> {
        if !self.stream_ready || self.queue.is_empty() {
            return None;
        }
        Some(self.play_until.saturating_sub(self.lead_ms))
    }

    /// Twilio echoed a mark. Returns false for stale or foreign marks.
    pub fn mark_echoed(&mut self, name: &str, now: Millis) -> bool {
        let Some((gen, ms)) = name.split_once(':') else {
            return false;
        };
        let (Ok(gen), Ok(ms)) = (gen.parse::<u32>(), ms.parse::<u64>()) else {
            return false;
        };
        let Some(item) = self.items.iter_mut().find(|i| i.generation == gen) else {
            return false; // cleared earlier: this echo means "flushed", not "played"
        };
        item.played_ms = item.played_ms.max(ms.min(item.sent_ms));
        item.acked_at = Some(now);
        // Fully played items ahead of the current one are done with.
        while let Some(first) = self.items.front() {
            if first.played_ms >= first.generated_ms && self.items.len() > 1 {
                self.items.pop_front();
            } else {
                break;
            }
        }
        true
    }

    /// Is any assistant audio generated but not yet confirmed played?
    pub fn has_unplayed(&self) -> bool {
        !self.queue.is_empty() || self.items.iter().any(ItemPlayback::unplayed)
    }

    /// The item the caller is hearing (or will hear next).
    pub fn current(&self) -> Option<&ItemPlayback> {
        self.items
            .iter()
            .find(|i| i.unplayed())
            .or(self.items.back())
    }

    /// The caller started speaking over the assistant at `now`.
    ///
    /// What was played is the last echoed mark plus the time since that
    /// echo arrived (playback goes on at real time), never past what was
    /// sent. Twilio echoes a mark when playback *reaches* it, and the echo
    /// takes a moment to arrive, so this never overstates what the caller
    /// heard; `margin_ms` can add to it for links whose marks lag more.
    pub fn interrupt(&mut self, active_response: Option<&str>, now: Millis) -> Interruption {
        let mut result = Interruption::default();
        if let Some(r) = active_response {
            self.remember_cancelled(r);
            result.cancelled_responses.push(r.to_string());
        }
        if !self.has_unplayed() {
            return result;
        }
        result.clear = true;
        if let Some(item) = self.items.iter().find(|i| i.unplayed()) {
            if item.played_ms > 0 {
                let since_ack = item.acked_at.map_or(0, |t| now.saturating_sub(t));
                let end = (item.played_ms + since_ack + self.margin_ms)
                    .min(item.sent_ms)
                    .min(item.generated_ms);
                let heard = if item.generated_ms == 0 {
                    0.0
                } else {
                    end as f32 / item.generated_ms as f32
                };
                result.truncate = Some(TruncatePoint {
                    item_id: item.item_id.clone(),
                    audio_end_ms: end,
                    heard_fraction: heard,
                });
            }
            let rid = item.response_id.clone();
            if !result.cancelled_responses.contains(&rid) {
                self.remember_cancelled(&rid);
                result.cancelled_responses.push(rid);
            }
        }
        self.queue.clear();
        self.queued_ms = 0;
        self.items.clear();
        self.unmarked = None;
        self.play_until = 0;
        result
    }

    /// Drop everything (the model connection was replaced).
    pub fn reset(&mut self) {
        self.queue.clear();
        self.queued_ms = 0;
        self.items.clear();
        self.unmarked = None;
    }

    fn remember_cancelled(&mut self, response_id: &str) {
        if self.is_cancelled(response_id) {
            return;
        }
        if self.cancelled.len() == CANCELLED_MEMORY {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(response_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn audio(ms: u64) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; (ms * 8) as usize])
    }

    fn medias(out: &[Outbound]) -> usize {
        out.iter()
            .filter(|o| matches!(o, Outbound::Media(_)))
            .count()
    }

    #[test]
    fn decoded_length_without_decoding() {
        for n in 0..50usize {
            let s = base64::engine::general_purpose::STANDARD.encode(vec![1u8; n]);
            assert_eq!(base64_decoded_len(&s), n as u64, "n={n}");
        }
        assert_eq!(pcmu_ms(&audio(20)), 20);
    }

    #[test]
    fn audio_waits_for_the_stream_then_flows_with_marks() {
        let mut p = Playback::new(200, 60);
        assert!(p.push("r1", "i1", audio(100), 0).is_empty());
        let out = p.stream_started(10);
        assert_eq!(
            out,
            vec![Outbound::Media(audio(100)), Outbound::Mark("1:100".into())]
        );
    }

    #[test]
    fn pacing_keeps_a_bounded_lead() {
        let mut p = Playback::new(200, 60);
        p.stream_started(0);
        let mut sent = 0;
        for _ in 0..10 {
            sent += medias(&p.push("r1", "i1", audio(100), 0));
        }
        // 0 ms lead -> send, 100 -> send, 200 -> stop.
        assert_eq!(sent, 2);
        assert_eq!(p.next_drain_at(), Some(0));
        assert_eq!(medias(&p.drain(0)), 0);
        assert_eq!(p.next_drain_at(), Some(0)); // play_until 200 - lead 200
        assert_eq!(medias(&p.drain(1)), 1);
        assert_eq!(medias(&p.drain(150)), 1);
        assert_eq!(p.next_drain_at(), Some(200));
    }

    #[test]
    fn marks_advance_played_and_stale_marks_are_ignored() {
        let mut p = Playback::new(1000, 60);
        p.stream_started(0);
        p.push("r1", "i1", audio(100), 0);
        p.push("r1", "i1", audio(100), 0);
        assert!(p.mark_echoed("1:100", 5));
        assert_eq!(p.current().unwrap().played_ms, 100);
        assert!(!p.mark_echoed("7:100", 5));
        assert!(!p.mark_echoed("garbage", 5));
    }

    #[test]
    fn barge_in_truncates_at_played_plus_margin_never_past_sent() {
        let mut p = Playback::new(300, 60);
        p.stream_started(0);
        for _ in 0..5 {
            p.push("r1", "i1", audio(100), 0);
        }
        // 300 ms sent (lead bound); mark 100 echoed at t=100, caller speaks at t=130.
        p.mark_echoed("1:100", 100);
        let i = p.interrupt(Some("r1"), 130);
        assert!(i.clear);
        let t = i.truncate.unwrap();
        assert_eq!(t.item_id, "i1");
        assert_eq!(t.audio_end_ms, 100 + 30 + 60);
        assert!((t.heard_fraction - 190.0 / 500.0).abs() < 1e-6);
        // Late audio of the cancelled response is dropped; its marks are stale.
        assert!(p.push("r1", "i1", audio(100), 10).is_empty());
        assert!(!p.mark_echoed("1:200", 140));
        assert!(!p.has_unplayed());
    }

    #[test]
    fn played_estimate_runs_on_from_the_last_echo_without_margin() {
        let mut p = Playback::new(1000, 0);
        p.stream_started(0);
        p.push("r1", "i1", audio(100), 0);
        p.push("r1", "i1", audio(100), 0);
        p.push("r1", "i1", audio(100), 0);
        p.mark_echoed("1:100", 100);
        // 40 ms after the echo the caller has heard at least 140 ms.
        assert_eq!(p.interrupt(None, 140).truncate.unwrap().audio_end_ms, 140);
    }

    #[test]
    fn truncate_capped_by_sent_audio() {
        let mut p = Playback::new(1000, 500);
        p.stream_started(0);
        p.push("r1", "i1", audio(100), 0);
        p.push("r1", "i1", audio(100), 0);
        p.mark_echoed("1:100", 100);
        let t = p.interrupt(None, 120).truncate.unwrap();
        assert_eq!(t.audio_end_ms, 200);
    }

    #[test]
    fn nothing_played_means_clear_but_no_truncate() {
        let mut p = Playback::new(200, 60);
        p.stream_started(0);
        p.push("r1", "i1", audio(100), 0);
        let i = p.interrupt(Some("r1"), 50);
        assert!(i.clear);
        assert!(i.truncate.is_none());
        assert_eq!(i.cancelled_responses, vec!["r1".to_string()]);
    }

    #[test]
    fn fully_played_audio_needs_no_clear() {
        let mut p = Playback::new(200, 60);
        p.stream_started(0);
        p.push("r1", "i1", audio(100), 0);
        p.mark_echoed("1:100", 100);
        let i = p.interrupt(None, 150);
        assert!(!i.clear);
        assert!(i.truncate.is_none());
    }

    #[test]
    fn a_new_item_gets_a_new_generation() {
        let mut p = Playback::new(1000, 60);
        p.stream_started(0);
        // 20 ms chunks are marked when their response is done (sparse marks).
        p.push("r1", "i1", audio(20), 0);
        let a = p.response_done("r1");
        p.push("r2", "i2", audio(20), 0);
        let b = p.response_done("r2");
        assert_eq!(a[0], Outbound::Mark("1:20".into()));
        assert_eq!(b[0], Outbound::Mark("2:20".into()));
        p.mark_echoed("1:20", 20);
        assert_eq!(p.current().unwrap().item_id, "i2");
    }

    fn marks(out: &[Outbound]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Outbound::Mark(m) => Some(m.clone()),
                Outbound::Media(_) => None,
            })
            .collect()
    }

    #[test]
    fn one_mark_per_100_ms_of_20_ms_deltas() {
        let mut p = Playback::new(10_000, 0);
        p.stream_started(0);
        let mut out = Vec::new();
        for i in 0..25 {
            out.extend(p.push("r1", "i1", audio(20), i * 20));
        }
        assert_eq!(medias(&out), 25);
        assert_eq!(marks(&out), ["1:100", "1:200", "1:300", "1:400", "1:500"]);
        // Media then its mark, in order: the mark follows the 5th chunk.
        assert!(matches!(out[5], Outbound::Mark(_)));
    }

    #[test]
    fn the_end_of_an_item_is_always_marked() {
        let mut p = Playback::new(10_000, 0);
        p.stream_started(0);
        let mut out = Vec::new();
        for _ in 0..3 {
            out.extend(p.push("r1", "i1", audio(20), 0));
        }
        assert!(marks(&out).is_empty());
        // The next item's audio first marks the end of the previous one.
        let next = p.push("r2", "i2", audio(20), 0);
        assert_eq!(next[0], Outbound::Mark("1:60".into()));
        assert_eq!(medias(&next), 1);
        // A done response is marked at once when nothing of it is queued...
        assert_eq!(marks(&p.response_done("r2")), ["2:20"]);
        assert!(p.response_done("r2").is_empty());
        p.mark_echoed("1:60", 60);
        p.mark_echoed("2:20", 80);
        assert!(!p.has_unplayed());
    }

    #[test]
    fn a_done_response_behind_the_pacer_is_marked_by_its_last_chunk() {
        let mut p = Playback::new(40, 0);
        p.stream_started(0);
        let mut out = Vec::new();
        for _ in 0..4 {
            out.extend(p.push("r1", "i1", audio(20), 0));
        }
        assert_eq!(medias(&out), 2);
        assert!(p.response_done("r1").is_empty()); // 40 ms still queued
        let rest = p.drain(40);
        assert_eq!(medias(&rest), 2);
        assert_eq!(marks(&rest), ["1:80"]);
    }

    #[test]
    fn truncate_interpolates_between_sparse_marks() {
        let mut p = Playback::new(10_000, 0);
        p.stream_started(0);
        // 400 ms sent in 20 ms deltas at t=0: marks at 100, 200, 300, 400.
        for _ in 0..20 {
            p.push("r1", "i1", audio(20), 0);
        }
        // Only the 100 ms mark came back, at t=100; the caller speaks at
        // t=170: it heard 100 ms + 70 ms of real time, not just 100.
        assert!(p.mark_echoed("1:100", 100));
        let t = p.interrupt(Some("r1"), 170).truncate.unwrap();
        assert_eq!(t.audio_end_ms, 170);
        assert!((t.heard_fraction - 170.0 / 400.0).abs() < 1e-6);

        // Never past what was sent, however long since the last echo.
        let mut p = Playback::new(10_000, 0);
        p.stream_started(0);
        for _ in 0..7 {
            p.push("r2", "i2", audio(20), 0);
        }
        assert!(p.mark_echoed("1:100", 100));
        assert_eq!(p.interrupt(None, 900).truncate.unwrap().audio_end_ms, 140);
    }

    #[test]
    fn the_queue_is_bounded_whatever_the_model_sends() {
        // The stream is not up yet: nothing drains, everything queues.
        let mut p = Playback::new(200, 0);
        for _ in 0..(MAX_QUEUED_MS / 20 + 500) {
            assert!(p.push("r1", "i1", audio(20), 0).is_empty());
        }
        assert_eq!(p.queued_ms, MAX_QUEUED_MS);
        assert_eq!(p.dropped_ms(), 500 * 20);
        // Once Twilio plays it down, new audio is taken again.
        assert!(!p.stream_started(0).is_empty());
        assert!(p.queued_ms < MAX_QUEUED_MS);
        p.push("r1", "i1", audio(20), 0);
        assert_eq!(p.dropped_ms(), 500 * 20);
    }
}
