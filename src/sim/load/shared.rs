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
    /// Frames of greeting audio the model sends at once.
    pub greeting_frames: u32,
    /// Frames the model queues before reporting caller speech.
    pub barge_in_burst: u32,
}

impl Shared {
    pub fn new(greeting_frames: u32, barge_in_burst: u32) -> Self {
        let tone = |hz: f64, level: f64| -> Vec<u8> {
            (0..FRAME_BYTES)
                .map(|i| {
                    let t = i as f64 / 8000.0;
                    let s =
                        (2.0 * std::f64::consts::PI * hz * t).sin() * level * f64::from(i16::MAX);
                    frontdesk::codec::mulaw::encode_sample(s as i16)
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
            caller_audio: PayloadTemplate::new(&tone(400.0, 0.05)),
            model_audio: PayloadTemplate::new(&tone(250.0, 0.2)),
            greeting_frames,
            barge_in_burst,
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

    #[test]
    fn window_bounds_are_half_open() {
        let s = Shared::new(5, 15);
        assert!(!s.in_window(0));
        s.open_window();
        let now = s.now_us();
        assert!(s.in_window(now));
        s.close_window();
        assert!(!s.in_window(s.now_us().saturating_add(1)));
    }
}
