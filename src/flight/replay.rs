//! Replaying a flight record: the machine is rebuilt from the recorded
//! config, fed every recorded input at its recorded time, and what it
//! answers is compared with what the live call's machine answered.
//!
//! A pure function from a [`Record`] to a [`Replay`] (plain data, JSON-ready):
//! the CLI prints it, the corpus test asserts on it, a console can step
//! through it. It never panics: an unreadable record replays up to the
//! problem and says where and why; even a machine that panicked on a step is
//! reported as such.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use super::format::{out_value, Record, RecordedInput, RecordedStep};
use super::log::Out;
use frontdesk_core::machine::MachineConfig;
use frontdesk_core::playback::PCMU_BYTES_PER_MS;
use frontdesk_core::{Call, Command, Event, StateName};

/// One step, replayed.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayedStep {
    pub seq: u64,
    pub at_ms: u64,
    pub before: &'static str,
    /// What was fed, as data (`"wake"` for the timer table).
    pub input: Value,
    /// What the live machine issued (`Err`: it refused the event).
    pub recorded: Result<Vec<Value>, String>,
    /// What the replayed machine issued.
    pub replayed: Result<Vec<Value>, String>,
    pub after: &'static str,
    pub diverged: bool,
}

/// Why a replay stopped before the end of its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Halt {
    /// `unreadable` (a gap, an unknown kind, a damaged line), `truncated`
    /// (the record ends before the call did) or `machine_panicked`.
    pub kind: &'static str,
    /// The last step replayed (0: none).
    pub after_step: u64,
    pub at_ms: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pub call_sid: String,
    pub format: u64,
    pub config: Option<MachineConfig>,
    /// `Call::start`'s commands: recorded, replayed.
    pub start: Option<(Vec<Value>, Vec<Value>)>,
    pub start_diverged: bool,
    pub steps: Vec<ReplayedStep>,
    /// Steps (and the start) whose replayed commands differ.
    pub divergences: usize,
    pub halt: Option<Halt>,
    /// Set when the replay stopped at a moment (`--at`).
    pub stopped_at_ms: Option<u64>,
    /// The full machine state where the replay stopped (with `--at`).
    pub state_at_stop: Option<Value>,
    pub final_state: Option<&'static str>,
    /// Size of the stored record and the call time it covers.
    pub record_bytes: usize,
    pub duration_ms: u64,
}

impl Replay {
    /// Nothing differs and nothing stopped the replay early.
    pub fn is_clean(&self) -> bool {
        self.divergences == 0 && self.halt.is_none()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop before the first step later than this (ms on the call's clock)
    /// and keep the full machine state there.
    pub stop_at_ms: Option<u64>,
}

/// Replays `record`.
pub fn replay(record: &Record, options: Options) -> Replay {
    let out = run(record, options);
    if let Some(h) = &out.halt {
        tracing::warn!(call_sid = %out.call_sid, kind = h.kind, after_step = h.after_step, reason = %h.reason, "replay stopped before the call's end");
    }
    if out.divergences > 0 {
        tracing::warn!(call_sid = %out.call_sid, divergences = out.divergences, "replay differs from the record");
    }
    out
}

fn run(record: &Record, options: Options) -> Replay {
    let mut out = Replay {
        call_sid: record.call_sid.clone(),
        format: record.format,
        config: record.start.as_ref().map(|s| s.config.clone()),
        start: None,
        start_diverged: false,
        steps: Vec::with_capacity(record.steps.len()),
        divergences: 0,
        halt: None,
        stopped_at_ms: None,
        state_at_stop: None,
        final_state: None,
        record_bytes: record.bytes,
        duration_ms: record.steps.last().map_or(0, |s| s.at),
    };
    let Some(start) = &record.start else {
        out.halt = Some(unreadable(record));
        return out;
    };
    let (mut call, first) = match &start.resume {
        Some(r) => Call::resume(start.config.clone(), 0, r.turns.clone(), r.elapsed_ms),
        None => Call::start(start.config.clone(), 0),
    };
    let first = values(&first);
    out.start_diverged = first != start.outs;
    out.divergences += usize::from(out.start_diverged);
    out.start = Some((start.outs.clone(), first));
    let mut silence = Silence::default();
    for step in &record.steps {
        if options.stop_at_ms.is_some_and(|at| step.at > at) {
            out.stopped_at_ms = options.stop_at_ms;
            out.state_at_stop = serde_json::to_value(&call).ok();
            out.final_state = Some(call.state().name().as_str());
            return out;
        }
        let before = call.state().name().as_str();
        let fed = catch_unwind(AssertUnwindSafe(|| feed(&mut call, step, &mut silence)));
        let replayed = match fed {
            Ok(r) => r,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                out.halt = Some(Halt {
                    kind: "machine_panicked",
                    after_step: step.seq.saturating_sub(1),
                    at_ms: Some(step.at),
                    reason: format!("the machine panicked on step {}: {why}", step.seq),
                });
                return out;
            }
        };
        let diverged = replayed != step.result;
        out.divergences += usize::from(diverged);
        out.steps.push(ReplayedStep {
            seq: step.seq,
            at_ms: step.at,
            before,
            input: input_value(&step.input),
            recorded: step.result.clone(),
            replayed,
            after: call.state().name().as_str(),
            diverged,
        });
    }
    out.final_state = Some(call.state().name().as_str());
    if options.stop_at_ms.is_some() {
        out.stopped_at_ms = options.stop_at_ms;
        out.state_at_stop = serde_json::to_value(&call).ok();
    }
    if record.problem.is_some() {
        out.halt = Some(unreadable(record));
    } else if call.state().name() != StateName::Ended {
        let last = record.steps.last();
        out.halt = Some(Halt {
            kind: "truncated",
            after_step: last.map_or(0, |s| s.seq),
            at_ms: last.map(|s| s.at),
            reason: format!(
                "the record ends with the call still in state {}: its end was never recorded \
                 (the instance died, its last chunk was lost, or the call is still going on)",
                call.state().name().as_str()
            ),
        });
    }
    out
}

fn unreadable(record: &Record) -> Halt {
    match &record.problem {
        Some(p) => Halt {
            kind: "unreadable",
            after_step: p.after_step,
            at_ms: p.at_ms,
            reason: p.reason.clone(),
        },
        None => Halt {
            kind: "unreadable",
            after_step: 0,
            at_ms: None,
            reason: "the record has no start".into(),
        },
    }
}

fn feed(call: &mut Call, step: &RecordedStep, silence: &mut Silence) -> Result<Vec<Value>, String> {
    match &step.input {
        RecordedInput::Event(e) => call
            .step(e.clone(), step.at)
            .map(|c| values(&c))
            .map_err(|u| u.to_string()),
        RecordedInput::Audio {
            response_id,
            item_id,
            bytes,
            ..
        } => {
            let event = Event::AudioDelta {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                payload: silence.of(*bytes),
            };
            call.step(event, step.at)
                .map(|c| values(&c))
                .map_err(|u| u.to_string())
        }
        RecordedInput::Wake => Ok(values(&call.handle_timeout(step.at))),
    }
}

fn values(commands: &[Command]) -> Vec<Value> {
    commands.iter().map(|c| out_value(&Out::of(c))).collect()
}

/// The input as data.
pub fn input_value(input: &RecordedInput) -> Value {
    match input {
        RecordedInput::Event(e) => serde_json::to_value(e).unwrap_or(Value::Null),
        RecordedInput::Audio {
            response_id,
            item_id,
            bytes,
            energy_dbfs,
        } => json!({ "model_audio": {
            "response_id": response_id,
            "item_id": item_id,
            "bytes": bytes,
            "ms": u64::from(*bytes) / PCMU_BYTES_PER_MS,
            "dbfs": energy_dbfs,
        }}),
        RecordedInput::Wake => json!("wake"),
    }
}

/// Mu-law silence (0xFF) of a given length, base64, made once per length:
/// the machine reads only the length of what it relays.
#[derive(Default)]
struct Silence(HashMap<u32, String>);

impl Silence {
    fn of(&mut self, bytes: u32) -> String {
        self.0
            .entry(bytes)
            .or_insert_with(|| STANDARD.encode(vec![0xFFu8; bytes as usize]))
            .clone()
    }
}
