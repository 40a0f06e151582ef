//! The flight log's buffer between hand-overs, packed: a busy call feeds its
//! machine ~70 steps a second and keeps up to 5 s of them, so the buffer is
//! a large part of what a call costs in memory. The common steps (an audio
//! delta, a mark echo, a wake-up, answered with media and marks) take a few
//! bytes each in one byte vector (varints, times as deltas); the rare ones
//! (webhooks, tool results, refusals) keep their boxes in side vectors,
//! taken back in order. A chunk is unpacked once, when it is handed over.

use frontdesk_core::machine::Unexpected;

use super::log::{Input, Out, Step};

/// Room reserved when a buffer starts (or restarts after a hand-over).
const INITIAL_BYTES: usize = 256;

// Step tags: the input kind, plus how the machine answered.
const AUDIO: u8 = 0;
const AUDIO_IDS: u8 = 1;
const MARK: u8 = 2;
const WAKE: u8 = 3;
const EVENT: u8 = 4;
const REFUSED: u8 = 0x80;

// Out tags.
const OUT_MEDIA: u8 = 0;
const OUT_MARK: u8 = 1;
const OUT_COMMAND: u8 = 2;

#[derive(Default)]
pub struct Packed {
    steps: Vec<u8>,
    outs: Vec<u8>,
    /// Boxes of rare steps, in the order their steps were packed: kept as
    /// the boxes the steps came in, which go back into the unpacked steps
    /// without a second allocation.
    #[allow(clippy::vec_box)]
    ids: Vec<Box<(String, String)>>,
    events: Vec<Input>,
    #[allow(clippy::vec_box)]
    refusals: Vec<Box<Unexpected>>,
    commands: Vec<Out>,
    len: usize,
    first_at: Option<u64>,
    last_at: u64,
}

impl Packed {
    pub fn new() -> Self {
        Packed {
            steps: Vec::with_capacity(INITIAL_BYTES),
            outs: Vec::with_capacity(INITIAL_BYTES),
            ..Packed::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn first_at(&self) -> Option<u64> {
        self.first_at
    }

    pub fn push_out(&mut self, out: Out) {
        match out {
            Out::Media(bytes) => {
                self.outs.push(OUT_MEDIA);
                put(&mut self.outs, u64::from(bytes));
            }
            Out::Mark { generation, ms } => {
                self.outs.push(OUT_MARK);
                put(&mut self.outs, u64::from(generation));
                put(&mut self.outs, ms);
            }
            command @ Out::Command(_) => {
                self.outs.push(OUT_COMMAND);
                self.commands.push(command);
            }
        }
    }

    pub fn push(&mut self, step: Step) {
        // Steps come in time order; a clock that went back is kept as 0.
        let delta = step.at.saturating_sub(self.last_at);
        self.first_at.get_or_insert(step.at);
        self.last_at = self.last_at.max(step.at);
        let refused = if step.result.is_err() { REFUSED } else { 0 };
        put(&mut self.steps, delta);
        match step.input {
            Input::Audio {
                bytes,
                energy_dbfs,
                ids,
            } => {
                let tag = if ids.is_some() { AUDIO_IDS } else { AUDIO };
                self.steps.push(tag | refused);
                put(&mut self.steps, u64::from(bytes));
                self.steps.push(energy_dbfs as u8);
                self.ids.extend(ids);
            }
            Input::Mark { generation, ms } => {
                self.steps.push(MARK | refused);
                put(&mut self.steps, u64::from(generation));
                put(&mut self.steps, ms);
            }
            Input::Wake => self.steps.push(WAKE | refused),
            event @ Input::Event(_) => {
                self.steps.push(EVENT | refused);
                self.events.push(event);
            }
        }
        match step.result {
            Ok(n) => put(&mut self.steps, u64::from(n)),
            Err(u) => self.refusals.push(u),
        }
        self.len += 1;
    }

    /// Everything packed since the last take, unpacked; the buffer starts
    /// afresh.
    pub fn take(&mut self) -> (Vec<Step>, Vec<Out>) {
        let packed = std::mem::replace(self, Packed::new());
        packed.unpack()
    }

    /// Drops what is buffered.
    pub fn clear(&mut self) {
        *self = Packed::new();
    }

    fn unpack(self) -> (Vec<Step>, Vec<Out>) {
        let mut ids = self.ids.into_iter();
        let mut events = self.events.into_iter();
        let mut refusals = self.refusals.into_iter();
        let mut commands = self.commands.into_iter();
        let mut at = 0u64;
        let mut steps = Vec::with_capacity(self.len);
        let mut r = Reader(&self.steps);
        while !r.0.is_empty() {
            at += r.varint();
            let tag = r.byte();
            let input = match tag & !REFUSED {
                AUDIO | AUDIO_IDS => Input::Audio {
                    bytes: r.varint() as u32,
                    energy_dbfs: r.byte() as i8,
                    ids: if tag & !REFUSED == AUDIO_IDS {
                        ids.next()
                    } else {
                        None
                    },
                },
                MARK => Input::Mark {
                    generation: r.varint() as u32,
                    ms: r.varint(),
                },
                WAKE => Input::Wake,
                _ => events.next().unwrap_or(Input::Wake),
            };
            let result = if tag & REFUSED != 0 {
                match refusals.next() {
                    Some(u) => Err(u),
                    None => Ok(0),
                }
            } else {
                Ok(r.varint() as u32)
            };
            steps.push(Step { at, input, result });
        }
        let mut outs = Vec::new();
        let mut r = Reader(&self.outs);
        while !r.0.is_empty() {
            let out = match r.byte() {
                OUT_MEDIA => Out::Media(r.varint() as u32),
                OUT_MARK => Out::Mark {
                    generation: r.varint() as u32,
                    ms: r.varint(),
                },
                _ => match commands.next() {
                    Some(out) => out,
                    None => continue,
                },
            };
            outs.push(out);
        }
        (steps, outs)
    }
}

/// LEB128: seven bits a byte, low first.
fn put(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads what [`Packed`] wrote; the bytes are its own, so they are whole
/// (a short read yields zeros rather than a panic).
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_core::{Command, Event, TwilioCommand};

    fn sample() -> (Vec<Step>, Vec<Out>) {
        let refusal = Unexpected {
            state: "Conversing",
            event: "StreamStopped",
            expected: "a model event",
        };
        let steps = vec![
            Step {
                at: 3,
                input: Input::Event(Box::new(Event::CallerVoice { speaking: true })),
                result: Ok(2),
            },
            Step {
                at: 20,
                input: Input::Audio {
                    bytes: 160,
                    energy_dbfs: -127,
                    ids: Some(Box::new(("resp_1".into(), "item_1".into()))),
                },
                result: Ok(1),
            },
            Step {
                at: 40,
                input: Input::Audio {
                    bytes: 70_000,
                    energy_dbfs: -3,
                    ids: None,
                },
                result: Ok(2),
            },
            Step {
                at: 40,
                input: Input::Mark {
                    generation: 7,
                    ms: 1_234_567,
                },
                result: Ok(0),
            },
            Step {
                at: 5_000_000_000,
                input: Input::Wake,
                result: Ok(3),
            },
            Step {
                at: 5_000_000_001,
                input: Input::Event(Box::new(Event::StreamStopped)),
                result: Err(Box::new(refusal)),
            },
        ];
        let outs = vec![
            Out::Command(Box::new(Command::Twilio(TwilioCommand::Clear))),
            Out::Media(160),
            Out::Media(70_000),
            Out::Mark {
                generation: 7,
                ms: 1_234_567,
            },
            Out::Media(0),
            Out::Mark {
                generation: u32::MAX,
                ms: u64::MAX,
            },
            Out::Command(Box::new(Command::Twilio(TwilioCommand::Clear))),
        ];
        (steps, outs)
    }

    #[test]
    fn what_is_packed_comes_back_as_it_went_in() {
        let (steps, outs) = sample();
        let mut packed = Packed::new();
        for s in steps.clone() {
            packed.push(s);
        }
        for o in outs.clone() {
            packed.push_out(o);
        }
        assert_eq!(packed.len(), steps.len());
        assert_eq!(packed.first_at(), Some(3));
        assert_eq!(packed.take(), (steps, outs));
        assert!(packed.is_empty());
        assert_eq!(packed.take(), (vec![], vec![]));
    }

    #[test]
    fn an_audio_step_takes_a_few_bytes() {
        let mut packed = Packed::new();
        for i in 0..100u64 {
            packed.push(Step {
                at: i * 20,
                input: Input::Audio {
                    bytes: 160,
                    energy_dbfs: -20,
                    ids: None,
                },
                result: Ok(1),
            });
            packed.push_out(Out::Media(160));
        }
        assert!(packed.steps.len() <= 100 * 6, "{}", packed.steps.len());
        assert!(packed.outs.len() <= 100 * 3, "{}", packed.outs.len());
    }
}
