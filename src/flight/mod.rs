//! The flight recorder: every input a call fed its machine, in order and with
//! its time, and what the machine answered — enough to rebuild the machine
//! and replay the call step by step (`frontdesk calls replay`, the replay
//! corpus under `tests/fixtures/replay/`).
//!
//! The call machine is pure, so its inputs are the whole story: the config it
//! started with, each event (stream, model, webhook, tool result, console
//! control) at its time offset, and each wake-up of its timer table. Audio is
//! the exception: a model audio delta is kept as its length and its energy —
//! the machine only ever measures it — and is re-made as silence of that
//! length on replay. See `docs/replay.md`.
//!
//! - [`log`]: the call-side buffer ([`FlightLog`]), cheap on the audio path,
//!   handing chunks to the recorder;
//! - [`format`]: a chunk as stored (JSON lines, versioned) and read back;
//! - [`replay`]: the replay itself, a pure function returning data (the CLI
//!   prints it; a console can show it);
//! - [`render`]: the CLI's text.

pub mod format;
pub mod log;
mod packed;
pub mod render;
pub mod replay;

pub use format::{decode, encode_chunk, Record, FORMAT_VERSION};
pub use log::{Chunk, FlightLog, Resume};
pub use replay::{replay, Halt, Replay, ReplayedStep};

/// A moment of a call: `12.4s`, `12400ms`, or plain seconds (`12.4`), in
/// milliseconds on the call's clock.
pub fn parse_moment(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, scale) = match (t.strip_suffix("ms"), t.strip_suffix('s')) {
        (Some(ms), _) => (ms, 1.0),
        (None, Some(s)) => (s, 1000.0),
        (None, None) => (t, 1000.0),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v * scale).round() as u64),
        _ => Err(format!(
            "cannot read the moment {text:?}: write it as 12.4s or 12400ms"
        )),
    }
}

/// The CLI's exit code: 0 the replay matched the record to the call's end,
/// 1 it diverged somewhere, 2 it could not reach the end (gap, unknown kind,
/// truncated record). Stopping on purpose (`--at`) is not a failure.
pub fn exit_code(r: &Replay) -> i32 {
    if r.divergences > 0 {
        1
    } else if r.halt.is_some() && r.stopped_at_ms.is_none() {
        2
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
