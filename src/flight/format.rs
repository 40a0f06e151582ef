//! A flight record as stored: JSON lines, one chunk per database row.
//!
//! Each chunk opens with a header line `{"v":1,"call":…,"chunk":k,"first":s,"steps":n}`;
//! chunk 0 then has the start line `{"start":{"config":…,"o":[…]}}`. Each
//! step is one line with its time `t` (ms on the call's clock), exactly one
//! input — `e` an event, `a` model audio `[bytes, dBFS]` (with `r`/`i`, the
//! response and item ids, when they change), `m` a mark echo, `w` a wake-up
//! of the timer table — and either `o`, the commands (omitted when none: a
//! number is audio of that many bytes, a string a mark, an object any other
//! command), or `x`, the machine's refusal. A file of chunks one after the
//! other (the corpus, an export) reads the same way.
//!
//! Reading never panics: it stops at the first thing it cannot read — a
//! missing chunk, a missing step, a cut-short chunk, a line that is not JSON,
//! an event kind this build does not know — and says where and why.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::log::{Chunk, Input, Out};
use frontdesk_core::machine::MachineConfig;
use frontdesk_core::Event;

/// The format this build writes; it reads this one and older.
pub const FORMAT_VERSION: u64 = 1;

/// One recorded command, as comparable data.
pub fn out_value(out: &Out) -> Value {
    match out {
        Out::Media(bytes) => json!(bytes),
        Out::Mark { generation, ms } => json!(format!("{generation}:{ms}")),
        Out::Command(c) => {
            serde_json::to_value(c).unwrap_or_else(|e| json!({ "unserialisable": e.to_string() }))
        }
    }
}

/// The stored text of a chunk.
pub fn encode_chunk(c: &Chunk) -> String {
    let mut text = String::with_capacity(64 + c.steps.len() * 40);
    let header = json!({
        "v": FORMAT_VERSION,
        "call": c.call_sid,
        "chunk": c.chunk,
        "first": c.first_step,
        "steps": c.steps.len(),
    });
    push_line(&mut text, &header);
    if let Some(start) = &c.start {
        let outs: Vec<Value> = start.outs.iter().map(out_value).collect();
        let mut line = json!({ "start": { "config": start.config, "o": outs } });
        if let Some(resume) = &start.resume {
            line["start"]["resume"] = json!(resume);
        }
        push_line(&mut text, &line);
    }
    let mut outs = c.outs.iter();
    for step in &c.steps {
        if push_audio_path_line(&mut text, step, &mut outs) {
            continue;
        }
        push_line(&mut text, &generic_line(step, &mut outs));
    }
    text
}

/// A step's line as a JSON value: every kind of step.
fn generic_line(step: &super::log::Step, outs: &mut std::slice::Iter<'_, Out>) -> Value {
    let mut line = Map::new();
    line.insert("t".into(), json!(step.at));
    match &step.input {
        Input::Event(e) => {
            line.insert("e".into(), serde_json::to_value(e).unwrap_or(Value::Null));
        }
        Input::Audio {
            bytes,
            energy_dbfs,
            ids,
        } => {
            line.insert("a".into(), json!([bytes, energy_dbfs]));
            if let Some(ids) = ids {
                line.insert("r".into(), json!(ids.0));
                line.insert("i".into(), json!(ids.1));
            }
        }
        Input::Mark { generation, ms } => {
            line.insert("m".into(), json!(format!("{generation}:{ms}")));
        }
        Input::Wake => {
            line.insert("w".into(), json!(1));
        }
    }
    match &step.result {
        Ok(n) => {
            let o: Vec<Value> = outs.by_ref().take(*n as usize).map(out_value).collect();
            if !o.is_empty() {
                line.insert("o".into(), Value::Array(o));
            }
        }
        Err(u) => {
            line.insert("x".into(), json!(u.to_string()));
        }
    }
    Value::Object(line)
}

/// The lines of a busy call are nearly all audio deltas, mark echoes and
/// wake-ups answered with media and marks: written here directly, the same
/// text as the generic path (keys in the same sorted order) without building
/// a JSON value per step. `false` (nothing written) for any other step.
fn push_audio_path_line(
    text: &mut String,
    step: &super::log::Step,
    outs: &mut std::slice::Iter<'_, Out>,
) -> bool {
    let Ok(n) = step.result else {
        return false;
    };
    let n = n as usize;
    let simple = |o: &Out| matches!(o, Out::Media(_) | Out::Mark { .. });
    if !outs.as_slice().iter().take(n).all(simple) || matches!(step.input, Input::Event(_)) {
        return false;
    }
    // Numbers and marks need no escaping; ids go through serde_json.
    let id = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = |text: &mut String| {
        if n == 0 {
            return;
        }
        text.push_str(",\"o\":[");
        for (k, o) in outs.by_ref().take(n).enumerate() {
            if k > 0 {
                text.push(',');
            }
            match o {
                Out::Media(bytes) => {
                    let _ = write!(text, "{bytes}");
                }
                Out::Mark { generation, ms } => {
                    let _ = write!(text, "\"{generation}:{ms}\"");
                }
                Out::Command(_) => {}
            }
        }
        text.push(']');
    };
    match &step.input {
        Input::Audio {
            bytes,
            energy_dbfs,
            ids,
        } => {
            let _ = write!(text, "{{\"a\":[{bytes},{energy_dbfs}]");
            if let Some(ids) = ids {
                let _ = write!(text, ",\"i\":{}", id(&ids.1));
                out(text);
                let _ = write!(text, ",\"r\":{}", id(&ids.0));
            } else {
                out(text);
            }
            let _ = writeln!(text, ",\"t\":{}}}", step.at);
        }
        Input::Mark { generation, ms } => {
            let _ = write!(text, "{{\"m\":\"{generation}:{ms}\"");
            out(text);
            let _ = writeln!(text, ",\"t\":{}}}", step.at);
        }
        Input::Wake => {
            // `{"o":[…],"t":…,"w":1}`, or without `o`.
            let open = text.len();
            out(text);
            if text.len() > open {
                text.replace_range(open..open + 1, "{");
                text.push(',');
            } else {
                text.push('{');
            }
            let _ = writeln!(text, "\"t\":{},\"w\":1}}", step.at);
        }
        Input::Event(_) => return false,
    }
    true
}

fn push_line(text: &mut String, v: &Value) {
    text.push_str(&v.to_string());
    text.push('\n');
}

/// What a step fed the machine, read back.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedInput {
    Event(Event),
    Audio {
        response_id: String,
        item_id: String,
        bytes: u32,
        energy_dbfs: i8,
    },
    Wake,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedStep {
    /// 1, 2, 3 … over the whole call.
    pub seq: u64,
    pub at: u64,
    pub input: RecordedInput,
    /// The commands, or the machine's refusal.
    pub result: Result<Vec<Value>, String>,
}

#[derive(Debug, Clone)]
pub struct RecordedStart {
    pub config: MachineConfig,
    pub outs: Vec<Value>,
    pub resume: Option<super::log::Resume>,
}

/// Where and why a record cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The last step read before it (0: none).
    pub after_step: u64,
    /// The time of that step, if any.
    pub at_ms: Option<u64>,
    pub reason: String,
}

/// A call's flight record, read as far as it can be.
#[derive(Debug, Clone)]
pub struct Record {
    pub call_sid: String,
    /// The newest format version among its chunks.
    pub format: u64,
    pub start: Option<RecordedStart>,
    pub steps: Vec<RecordedStep>,
    pub problem: Option<Problem>,
    /// Stored size, for the bytes-per-minute figure.
    pub bytes: usize,
}

/// Reads a record from its lines (chunk after chunk).
pub fn decode(text: &str) -> Record {
    let mut r = Reader {
        record: Record {
            call_sid: String::new(),
            format: 0,
            start: None,
            steps: Vec::new(),
            problem: None,
            bytes: text.len(),
        },
        chunk: None,
        left_in_chunk: 0,
        ids: None,
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Err(reason) = r.line(line) {
            r.stop(format!("line {}: {reason}", n + 1));
            return r.record;
        }
    }
    if r.left_in_chunk > 0 {
        let chunk = r.chunk.unwrap_or(0);
        r.stop(format!(
            "chunk {chunk} is cut short: {} of its steps are missing",
            r.left_in_chunk
        ));
    } else if r.record.start.is_none() && r.record.problem.is_none() {
        r.stop("the record has no start (chunk 0 is missing)".into());
    }
    r.record
}

struct Reader {
    record: Record,
    chunk: Option<u64>,
    left_in_chunk: u64,
    /// (response, item) of the last audio step of this chunk.
    ids: Option<(String, String)>,
}

impl Reader {
    fn stop(&mut self, reason: String) {
        let last = self.record.steps.last();
        self.record.problem = Some(Problem {
            after_step: last.map_or(0, |s| s.seq),
            at_ms: last.map(|s| s.at),
            reason,
        });
    }

    fn next_seq(&self) -> u64 {
        self.record.steps.last().map_or(1, |s| s.seq + 1)
    }

    fn newer(&self) -> String {
        if self.record.format > FORMAT_VERSION {
            format!(
                " (recorded in format v{}; this build reads up to v{FORMAT_VERSION})",
                self.record.format
            )
        } else {
            String::new()
        }
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(obj) = v else {
            return Err("not a JSON object".into());
        };
        if obj.contains_key("chunk") {
            return self.header(&obj);
        }
        let Some(chunk) = self.chunk else {
            return Err("a step before any chunk header".into());
        };
        if let Some(start) = obj.get("start") {
            if chunk != 0 || !self.record.steps.is_empty() || self.record.start.is_some() {
                return Err("a start line outside the head of chunk 0".into());
            }
            let config =
                serde_json::from_value(start.get("config").cloned().unwrap_or(Value::Null))
                    .map_err(|e| {
                        format!("the machine's config cannot be read{}: {e}", self.newer())
                    })?;
            let outs = start
                .get("o")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let resume = match start.get("resume") {
                None => None,
                Some(r) => Some(serde_json::from_value(r.clone()).map_err(|e| {
                    format!(
                        "the resumed conversation cannot be read{}: {e}",
                        self.newer()
                    )
                })?),
            };
            self.record.start = Some(RecordedStart {
                config,
                outs,
                resume,
            });
            return Ok(());
        }
        if self.record.start.is_none() {
            return Err("the record has no start (chunk 0 is missing)".into());
        }
        if self.left_in_chunk == 0 {
            return Err(format!(
                "chunk {chunk} holds more steps than its header says"
            ));
        }
        let seq = self.next_seq();
        let step = self.step(seq, &obj)?;
        self.left_in_chunk -= 1;
        self.record.steps.push(step);
        Ok(())
    }

    fn header(&mut self, obj: &Map<String, Value>) -> Result<(), String> {
        let num = |k: &str| obj.get(k).and_then(Value::as_u64);
        let (Some(v), Some(chunk), Some(first), Some(steps)) =
            (num("v"), num("chunk"), num("first"), num("steps"))
        else {
            return Err("a chunk header without v, chunk, first and steps".into());
        };
        self.record.format = self.record.format.max(v);
        if let Some(call) = obj.get("call").and_then(Value::as_str) {
            if self.record.call_sid.is_empty() {
                self.record.call_sid = call.to_string();
            } else if self.record.call_sid != call {
                return Err(format!("chunk {chunk} belongs to another call"));
            }
        }
        if self.left_in_chunk > 0 {
            return Err(format!(
                "chunk {} is cut short: {} of its steps are missing",
                self.chunk.unwrap_or(0),
                self.left_in_chunk
            ));
        }
        let expected = self.chunk.map_or(0, |c| c + 1);
        if chunk != expected {
            return Err(if chunk > expected {
                format!(
                    "gap: chunk {expected} is missing (the next stored is chunk {chunk}, from step {first})"
                )
            } else {
                format!("chunk {chunk} comes again after chunk {}", expected - 1)
            });
        }
        let seq = self.next_seq();
        if first != seq {
            return Err(format!(
                "gap: steps {seq}..{} are missing (chunk {chunk} starts at step {first})",
                first.saturating_sub(1)
            ));
        }
        self.chunk = Some(chunk);
        self.left_in_chunk = steps;
        self.ids = None;
        Ok(())
    }

    fn step(&mut self, seq: u64, obj: &Map<String, Value>) -> Result<RecordedStep, String> {
        let at = obj
            .get("t")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("step {seq} has no time"))?;
        if let Some(prev) = self.record.steps.last() {
            if at < prev.at {
                return Err(format!(
                    "step {seq} goes back in time ({at} ms after {} ms)",
                    prev.at
                ));
            }
        }
        let input = if let Some(e) = obj.get("e") {
            RecordedInput::Event(self.event(seq, e)?)
        } else if let Some(a) = obj.get("a") {
            let bytes = a.get(0).and_then(Value::as_u64).unwrap_or(0) as u32;
            let energy_dbfs = a.get(1).and_then(Value::as_i64).unwrap_or(-128) as i8;
            if let (Some(r), Some(i)) = (
                obj.get("r").and_then(Value::as_str),
                obj.get("i").and_then(Value::as_str),
            ) {
                self.ids = Some((r.to_string(), i.to_string()));
            }
            let Some((response_id, item_id)) = self.ids.clone() else {
                return Err(format!(
                    "step {seq}: model audio without its response and item"
                ));
            };
            RecordedInput::Audio {
                response_id,
                item_id,
                bytes,
                energy_dbfs,
            }
        } else if let Some(m) = obj.get("m").and_then(Value::as_str) {
            RecordedInput::Event(Event::Mark {
                name: m.to_string(),
            })
        } else if obj.contains_key("w") {
            RecordedInput::Wake
        } else {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            return Err(format!(
                "step {seq}: unknown step kind (keys {keys:?}){}",
                self.newer()
            ));
        };
        let result = match obj.get("x") {
            Some(x) => Err(x.as_str().unwrap_or_default().to_string()),
            None => Ok(obj
                .get("o")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()),
        };
        Ok(RecordedStep {
            seq,
            at,
            input,
            result,
        })
    }

    fn event(&self, seq: u64, e: &Value) -> Result<Event, String> {
        serde_json::from_value(e.clone()).map_err(|err| {
            let kind = match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            if err.to_string().contains("unknown variant") {
                format!("step {seq}: unknown event kind `{kind}`{}", self.newer())
            } else {
                format!(
                    "step {seq}: event `{kind}` cannot be read{}: {err}",
                    self.newer()
                )
            }
        })
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;
    use crate::flight::log::Step;
    use frontdesk_core::{Command, TwilioCommand};

    /// The direct writer and the generic one say the same thing.
    #[test]
    fn audio_path_lines_read_as_the_generic_ones() {
        let outs = [
            Out::Media(160),
            Out::Mark {
                generation: 2,
                ms: 300,
            },
            Out::Media(8),
            Out::Command(Box::new(Command::Twilio(TwilioCommand::Clear))),
        ];
        let steps = [
            (Input::Wake, Ok(0)),
            (Input::Wake, Ok(2)),
            (
                Input::Audio {
                    bytes: 160,
                    energy_dbfs: -127,
                    ids: Some(Box::new(("resp \"1\"".into(), "item\\1".into()))),
                },
                Ok(1),
            ),
            (
                Input::Audio {
                    bytes: 0,
                    energy_dbfs: i8::MIN,
                    ids: None,
                },
                Ok(0),
            ),
            (
                Input::Mark {
                    generation: 7,
                    ms: u64::MAX,
                },
                Ok(1),
            ),
        ];
        for (k, (input, result)) in steps.into_iter().enumerate() {
            let step = Step {
                at: 1000 + k as u64,
                input,
                result,
            };
            let n = step.result.clone().unwrap_or(0) as usize;
            for skip in 0..=outs.len().saturating_sub(n) {
                let window = &outs[skip..skip + n];
                let mut fast = String::new();
                let written = push_audio_path_line(&mut fast, &step, &mut window.iter());
                let generic = generic_line(&step, &mut window.iter());
                if window.iter().any(|o| matches!(o, Out::Command(_))) {
                    assert!(!written, "{fast}");
                    continue;
                }
                assert!(written);
                assert!(fast.ends_with('\n') && fast.matches('\n').count() == 1);
                let read: Value = serde_json::from_str(&fast).expect(&fast);
                assert_eq!(read, generic, "{fast}");
            }
        }
    }
}
