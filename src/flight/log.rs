//! [`FlightLog`]: the call actor's side of the flight recorder.
//!
//! On the audio path (a model delta, a mark echo, a pacing wake-up) a step
//! costs a few packed bytes ([`Packed`]): no payload is copied, response and item ids are copied only when
//! they change, a mark is kept as its two numbers. Rare steps (webhooks, tool
//! results, transitions) clone their event and commands. Chunks go to the
//! recorder with `do_send`, so the database never reaches the call; the
//! recorder batches, spills and retries them like every other row.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use frontdesk_core::codec::meter::MulawEnergy;
use frontdesk_core::machine::{MachineConfig, Unexpected};
use frontdesk_core::playback::base64_decoded_len;
use frontdesk_core::{Command, Event, TwilioCommand};

use super::packed::Packed;

/// A chunk is handed over once it holds this many steps...
pub const CHUNK_STEPS: usize = 512;
/// ...or its first step is this old, so a crash loses little.
pub const CHUNK_MAX_AGE_MS: u64 = 5_000;

/// What a step fed the machine. Small on purpose (rare payloads boxed):
/// a call buffers up to [`CHUNK_STEPS`] of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Event(Box<Event>),
    /// A model audio delta: its decoded length and energy. `ids` (response,
    /// item) only when they differ from the previous delta of the chunk.
    Audio {
        bytes: u32,
        energy_dbfs: i8,
        ids: Option<Box<(String, String)>>,
    },
    /// A mark echo named `"{generation}:{ms}"` (the only names the machine
    /// sends); other names are kept as an `Event`.
    Mark {
        generation: u32,
        ms: u64,
    },
    /// `handle_timeout(now)`: the machine's timer table woke it.
    Wake,
}

/// One command the machine issued, as recorded: audio by its length, a mark
/// by its numbers, anything else as it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Media(u32),
    Mark { generation: u32, ms: u64 },
    Command(Box<Command>),
}

impl Out {
    pub fn of(command: &Command) -> Out {
        match command {
            Command::Twilio(TwilioCommand::Media(payload)) => {
                Out::Media(base64_decoded_len(payload) as u32)
            }
            Command::Twilio(TwilioCommand::Mark(name)) => match parse_mark(name) {
                Some((generation, ms)) => Out::Mark { generation, ms },
                None => Out::Command(Box::new(command.clone())),
            },
            other => Out::Command(Box::new(other.clone())),
        }
    }
}

fn parse_mark(name: &str) -> Option<(u32, u64)> {
    let (g, ms) = name.split_once(':')?;
    let generation = g.parse().ok()?;
    let ms = ms.parse().ok()?;
    // Only the canonical spelling: "01:5" must stay "01:5" on replay.
    (format!("{generation}:{ms}") == name).then_some((generation, ms))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Milliseconds on the call's clock (the machine's `now`).
    pub at: u64,
    pub input: Input,
    /// `Err`: the machine refused the event (it changed nothing).
    pub result: Result<u32, Box<Unexpected>>,
}

/// How the machine was started (chunk 0 only).
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub config: MachineConfig,
    pub outs: Vec<Out>,
    /// Set for a call taken over from a lost instance (`Call::resume`).
    pub resume: Option<Resume>,
}

/// What `Call::resume` was given: the stored conversation and how long the
/// call had lasted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub turns: Vec<frontdesk_core::transcript::Turn>,
    pub elapsed_ms: u64,
}

/// A run of consecutive steps of one call, as handed to the recorder.
#[derive(actix::Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct Chunk {
    pub call_sid: String,
    /// 0, 1, 2 … per call: with `call_sid`, the row's idempotency key.
    pub chunk: u64,
    /// Sequence number of the first step (steps are numbered from 1).
    pub first_step: u64,
    pub start: Option<Start>,
    pub steps: Vec<Step>,
    /// Each step's commands, in order: step `i` owns the next
    /// `steps[i].result` entries.
    pub outs: Vec<Out>,
}

/// Where a call's chunks go: in the engine, `do_send` to the recorder (on
/// its own thread); never anything that blocks.
pub type ChunkSink = std::sync::Arc<dyn Fn(Chunk) + Send + Sync>;

/// The call's flight log.
pub struct FlightLog {
    call_sid: String,
    sink: Option<ChunkSink>,
    chunk: u64,
    next_step: u64,
    start: Option<Start>,
    buffer: Packed,
    /// (response, item) of the last audio delta of the chunk being filled.
    last_ids: Option<(String, String)>,
}

impl FlightLog {
    /// A log for a call whose machine was started with `config` and answered
    /// `first`. `sink: None` records nothing (kept cheap: no capture at all).
    pub fn new(
        call_sid: &str,
        sink: Option<ChunkSink>,
        config: &MachineConfig,
        first: &[Command],
        resume: Option<Resume>,
    ) -> FlightLog {
        let start = sink.is_some().then(|| Start {
            config: config.clone(),
            outs: first.iter().map(Out::of).collect(),
            resume,
        });
        FlightLog {
            call_sid: call_sid.to_string(),
            sink,
            chunk: 0,
            next_step: 1,
            start,
            buffer: Packed::new(),
            last_ids: None,
        }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// What `event` feeds the machine, taken before the machine consumes it.
    pub fn capture(&mut self, event: &Event) -> Option<Input> {
        self.sink.as_ref()?;
        Some(match event {
            Event::AudioDelta {
                response_id,
                item_id,
                payload,
            } => {
                let bytes = base64_decoded_len(payload) as u32;
                // Undecodable audio still counts by its length (that is all
                // the machine reads); its energy is then unknown (-128).
                let energy = energy_of(payload).map_or(i8::MIN, dbfs_i8);
                let same = self
                    .last_ids
                    .as_ref()
                    .is_some_and(|(r, i)| r == response_id && i == item_id);
                let ids = if same {
                    None
                } else {
                    let ids = (response_id.clone(), item_id.clone());
                    self.last_ids = Some(ids.clone());
                    Some(Box::new(ids))
                };
                Input::Audio {
                    bytes,
                    energy_dbfs: energy,
                    ids,
                }
            }
            Event::Mark { name } => match parse_mark(name) {
                Some((generation, ms)) => Input::Mark { generation, ms },
                None => Input::Event(Box::new(event.clone())),
            },
            other => Input::Event(Box::new(other.clone())),
        })
    }

    /// Logs one step: `input` (from [`capture`](Self::capture)) fed at `at`,
    /// and the machine's answer. Hands a chunk over when it is full, old, or
    /// the step mattered (a transition, a record, the end).
    pub fn step(
        &mut self,
        at: u64,
        input: Option<Input>,
        result: Result<&[Command], &Unexpected>,
        finished: bool,
    ) {
        let Some(input) = input else {
            return;
        };
        let mut notable = finished;
        let result = match result {
            Ok(commands) => {
                for c in commands {
                    notable |= matches!(c, Command::Record(_) | Command::Finish(_));
                    self.buffer.push_out(Out::of(c));
                }
                Ok(commands.len() as u32)
            }
            Err(u) => {
                notable = true;
                Err(Box::new(u.clone()))
            }
        };
        self.buffer.push(Step { at, input, result });
        self.next_step += 1;
        let first_at = self.buffer.first_at().unwrap_or(at);
        if notable
            || self.buffer.len() >= CHUNK_STEPS
            || at.saturating_sub(first_at) >= CHUNK_MAX_AGE_MS
        {
            self.hand_over();
        }
    }

    /// A wake-up of the timer table (`handle_timeout(now)`).
    pub fn wake(&mut self, at: u64, commands: &[Command], finished: bool) {
        let input = self.sink.is_some().then_some(Input::Wake);
        self.step(at, input, Ok(commands), finished);
    }

    /// Drops what is buffered and records nothing more: the call went on
    /// at another instance, whose record this one must not collide with.
    pub fn discard(&mut self) {
        self.sink = None;
        self.start = None;
        self.buffer.clear();
    }

    /// Hands whatever is buffered to the recorder (the call ends, or stops).
    pub fn hand_over(&mut self) {
        let Some(sink) = &self.sink else {
            return;
        };
        if self.buffer.is_empty() && self.start.is_none() {
            return;
        }
        let (steps, outs) = self.buffer.take();
        let first_step = self.next_step - steps.len() as u64;
        sink(Chunk {
            call_sid: self.call_sid.clone(),
            chunk: self.chunk,
            first_step,
            start: self.start.take(),
            steps,
            outs,
        });
        self.chunk += 1;
        // Every chunk names its ids afresh: chunks are read on their own.
        self.last_ids = None;
    }
}

/// The level of a base64 mu-law payload, decoded a piece at a time on the
/// stack: a call keeps no buffer the size of its largest delta.
fn energy_of(payload: &str) -> Option<f32> {
    // 256 characters are 192 bytes; a multiple of 4, so only the last piece
    // can hold padding, exactly as when the payload is decoded whole.
    let mut piece = [0u8; 192];
    let mut energy = MulawEnergy::default();
    for chars in payload.as_bytes().chunks(256) {
        let n = STANDARD.decode_slice(chars, &mut piece).ok()?;
        energy.push(&piece[..n]);
    }
    Some(energy.dbfs())
}

/// dBFS rounded to a whole number; silence (−∞) is −127.
fn dbfs_i8(dbfs: f32) -> i8 {
    if dbfs.is_finite() {
        dbfs.round().clamp(-127.0, 0.0) as i8
    } else {
        -127
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk handed over holds up to 512 steps and their commands (the
    /// call itself buffers them packed): kept small, that is ~40 KB at
    /// worst, not the ~150 KB of unboxed events.
    #[test]
    fn buffered_entries_stay_small() {
        assert!(
            std::mem::size_of::<Step>() <= 40,
            "{}",
            std::mem::size_of::<Step>()
        );
        assert!(
            std::mem::size_of::<Out>() <= 24,
            "{}",
            std::mem::size_of::<Out>()
        );
    }

    #[test]
    fn a_payload_measured_in_pieces_reads_as_if_decoded_whole() {
        use frontdesk_core::codec::meter::mulaw_energy_dbfs;
        let audio: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 256) as u8).collect();
        for len in [0, 1, 2, 3, 191, 192, 193, 999, 1000] {
            let payload = STANDARD.encode(&audio[..len]);
            assert_eq!(
                energy_of(&payload).map(dbfs_i8),
                Some(dbfs_i8(mulaw_energy_dbfs(&audio[..len]))),
                "{len}"
            );
        }
        assert_eq!(energy_of("not base64!"), None);
        let mut padded_inside = STANDARD.encode(&audio[..10]);
        padded_inside.push_str(&STANDARD.encode(&audio[..10]));
        assert_eq!(energy_of(&padded_inside), None);
    }

    #[test]
    fn only_canonical_mark_names_are_kept_as_numbers() {
        assert_eq!(parse_mark("3:1200"), Some((3, 1200)));
        assert_eq!(parse_mark("03:1200"), None);
        assert_eq!(parse_mark("greeting-end"), None);
    }
}
