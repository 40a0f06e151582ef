//! State both peers share. The generator runs on one thread (a tokio
//! current-thread runtime with a `LocalSet`), so this is `Rc` + `Cell` /
//! `RefCell`: no locks or atomics on the per-frame path.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Instant;

use super::frame::{PayloadTemplate, FRAME_BYTES};
use super::stats::Stats;

/// What a model connection is asked to do on its next tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOrder {
    /// Queue audio ahead of real time, then report caller speech.
    BargeIn,
}

/// How the simulated model talks.
#[derive(Debug, Clone, Copy)]
pub struct ModelPlan {
    /// Audio per `response.output_audio.delta`, sent once per this period.
    pub delta_ms: u64,
    /// Deltas of greeting sent at once.
    pub greeting_deltas: u32,
    /// Deltas queued ahead of real time before a barge-in.
    pub burst_deltas: u32,
    /// The model holds a delta back while the caller side has more than this
    /// much of its audio still to play, so the engine's playback lead stays
    /// under `call.pacing_lead_ms` and no delta waits for pacing: the latency
    /// measured is the relay's, not the deliberate pacing hold.
    pub max_lead_us: u32,
}

pub struct Shared {
    clock: Instant,
    /// Measurement window on the run clock, `[start, end)` in µs.
    window: Cell<Option<(u32, u32)>>,
    pub stats: RefCell<Stats>,
    /// Callers hang up on their next tick.
    pub hang_up: Cell<bool>,
    pub live_calls: Cell<u32>,
    /// Calls whose model audio is flowing (the steady state can begin).
    pub streaming_calls: Cell<u32>,
    pub next_model_conn: Cell<u32>,
    pub orders: RefCell<HashMap<u32, ModelOrder>>,
    /// Model connection → when it sent `speech_started`.
    pub barge_in_sent: RefCell<HashMap<u32, u32>>,
    pub caller_audio: PayloadTemplate,
    pub model_audio: PayloadTemplate,
    pub plan: ModelPlan,
    /// Model connection → when the audio it sent will have played at the
    /// caller (µs on the run clock), as the caller side sees it.
    played_until: RefCell<Vec<u32>>,
}

impl Shared {
    pub fn new(plan: ModelPlan) -> Self {
        let tone = |hz: f64, level: f64, bytes: usize| -> Vec<u8> {
            (0..bytes)
                .map(|i| {
                    let t = i as f64 / 8000.0;
                    let s =
                        (2.0 * std::f64::consts::PI * hz * t).sin() * level * f64::from(i16::MAX);
                    crate::audio::linear_to_mulaw(s as i16)
                })
                .collect()
        };
        Shared {
            clock: Instant::now(),
            window: Cell::new(None),
            stats: RefCell::new(Stats::default()),
            hang_up: Cell::new(false),
            live_calls: Cell::new(0),
            streaming_calls: Cell::new(0),
            next_model_conn: Cell::new(0),
            orders: RefCell::new(HashMap::new()),
            barge_in_sent: RefCell::new(HashMap::new()),
            caller_audio: PayloadTemplate::new(&tone(400.0, 0.05, FRAME_BYTES)),
            model_audio: PayloadTemplate::new(&tone(250.0, 0.2, plan.delta_ms as usize * 8)),
            plan,
            played_until: RefCell::new(Vec::new()),
        }
    }

    pub fn set_played_until(&self, model_conn: u32, us: u32) {
        let mut v = self.played_until.borrow_mut();
        let i = model_conn as usize;
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] = us;
    }

    /// Audio of `model_conn` still to play at the caller at `now`.
    pub fn caller_lead_us(&self, model_conn: u32, now: u32) -> u32 {
        let until = self
            .played_until
            .borrow()
            .get(model_conn as usize)
            .copied()
            .unwrap_or(0);
        let lead = until.wrapping_sub(now);
        // A wrapped difference means the audio already played out.
        if lead > u32::MAX / 2 {
            0
        } else {
            lead
        }
    }

    /// Now, in µs on the run clock (wraps after 71 minutes; differences use
    /// wrapping arithmetic).
    pub fn now_us(&self) -> u32 {
        self.clock.elapsed().as_micros() as u32
    }

    pub fn open_window(&self) {
        let now = self.now_us();
        self.window.set(Some((now, u32::MAX)));
    }

    pub fn close_window(&self) {
        if let Some((start, _)) = self.window.get() {
            self.window.set(Some((start, self.now_us())));
        }
    }

    /// Was a frame stamped `us` sent inside the window?
    pub fn in_window(&self, us: u32) -> bool {
        matches!(self.window.get(), Some((start, end)) if us >= start && us < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ModelPlan {
        ModelPlan {
            delta_ms: 20,
            greeting_deltas: 5,
            burst_deltas: 15,
            max_lead_us: 140_000,
        }
    }

    #[test]
    fn caller_lead_is_what_remains_to_play() {
        let s = Shared::new(plan());
        assert_eq!(s.caller_lead_us(3, 1000), 0);
        s.set_played_until(3, 5000);
        assert_eq!(s.caller_lead_us(3, 1000), 4000);
        assert_eq!(s.caller_lead_us(3, 6000), 0);
    }

    #[test]
    fn window_bounds_are_half_open() {
        let s = Shared::new(plan());
        assert!(!s.in_window(0));
        s.open_window();
        let now = s.now_us();
        assert!(s.in_window(now));
        s.close_window();
        assert!(!s.in_window(s.now_us().saturating_add(1)));
    }
}
