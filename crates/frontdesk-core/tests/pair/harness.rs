//! Both peers of a call on one virtual clock, the way str0m and quinn test
//! theirs: the machine, a Twilio that plays queued audio in real time and
//! echoes marks when their audio has played, and a scripted Realtime model.
//! The loop delivers every due event, fires `handle_timeout` at
//! `poll_timeout()`, and jumps the clock to the next thing that happens.
//! No wall clock anywhere: a minute of call runs in microseconds.

use base64::Engine as _;
use frontdesk_core::decision::{OnNoAnswer, Transfer};
use frontdesk_core::playback::{pcmu_ms, Millis};
use frontdesk_core::supervision::Budget;
use frontdesk_core::transcript::Turn;
use frontdesk_core::{
    Call, CallRecord, Command, Event, MachineConfig, ModelCommand, Parking, ResponseStatus,
    ToolEffect, TwilioCommand,
};

pub fn config() -> MachineConfig {
    MachineConfig {
        pacing_lead_ms: 200,
        barge_in_margin_ms: 0,
        hold_message_after_ms: 1200,
        tool_timeout_ms: 5000,
        silence_timeout_ms: 20_000,
        max_call_ms: 600_000,
        stream_start_timeout_ms: 15_000,
        model_ready_deadline_ms: 4000,
        session_ready_timeout_ms: 5000,
        response_timeout_ms: 8000,
        session_cap_ms: 3_300_000,
        budget: Budget {
            restarts: 2,
            window_ms: 30_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 2000,
        },
        operator: Some(Transfer {
            department: "Front desk".into(),
            number: "+15551230100".into(),
            on_no_answer: OnNoAnswer::Voicemail,
        }),
        parking: Parking {
            menu_ms: 60_000,
            recording_ms: 155_000,
            dial_ring_ms: 50_000,
        },
        transport: frontdesk_core::Transport::Twilio,
        sip_fallback: None,
    }
}

pub fn audio(ms: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![0x7Fu8; (ms * 8) as usize])
}

/// Events waiting for their time, in the order they were scheduled.
#[derive(Debug, Default)]
pub struct Timeline(Vec<(Millis, Event)>);

impl Timeline {
    pub fn at(&mut self, at: Millis, e: Event) {
        self.0.push((at, e));
    }
    fn next(&self) -> Option<Millis> {
        self.0.iter().map(|(t, _)| *t).min()
    }
    fn due(&mut self, now: Millis) -> Vec<Event> {
        let (due, later) = std::mem::take(&mut self.0)
            .into_iter()
            .partition::<Vec<_>, _>(|(t, _)| *t <= now);
        self.0 = later;
        let mut due = due;
        due.sort_by_key(|(t, _)| *t); // stable: same-time events keep their order
        due.into_iter().map(|(_, e)| e).collect()
    }
}

/// Twilio's side of a bidirectional Media Stream: a playback buffer that
/// plays in real time, marks echoed when the audio before them has played
/// (or at once on `clear`).
#[derive(Debug, Default)]
pub struct TwilioSim {
    /// When the audio queued so far finishes playing.
    playhead: Millis,
    /// Played (or playing) audio: (start, end) on the clock.
    pub chunks: Vec<(Millis, Millis)>,
    marks: Timeline,
    pub marks_received: Vec<String>,
    pub marks_echoed: Vec<(Millis, String)>,
    pub clears: Vec<Millis>,
    pub first_media_at: Option<Millis>,
    /// The most audio ever queued ahead of real time.
    pub max_ahead_ms: u64,
    /// Never echo marks (a Twilio that drops them).
    pub mute_marks: bool,
}

impl TwilioSim {
    fn receive(&mut self, cmd: TwilioCommand, now: Millis) {
        match cmd {
            TwilioCommand::Media(payload) => {
                self.first_media_at.get_or_insert(now);
                let start = self.playhead.max(now);
                self.playhead = start + pcmu_ms(&payload);
                self.chunks.push((start, self.playhead));
                self.max_ahead_ms = self.max_ahead_ms.max(self.playhead - now);
            }
            TwilioCommand::Mark(name) => {
                self.marks_received.push(name.clone());
                if !self.mute_marks {
                    self.marks.at(self.playhead.max(now), Event::Mark { name });
                }
            }
            TwilioCommand::Clear => {
                self.clears.push(now);
                for (at, _) in &mut self.marks.0 {
                    *at = now;
                }
                self.chunks.retain(|(start, _)| *start < now);
                for (_, end) in &mut self.chunks {
                    *end = (*end).min(now);
                }
                self.playhead = now;
            }
        }
    }

    pub fn marks_echoed_names(&self) -> Vec<&String> {
        self.marks_echoed.iter().map(|(_, n)| n).collect()
    }

    /// Milliseconds of audio the caller has heard by `t`.
    pub fn heard_ms(&self, t: Millis) -> u64 {
        self.chunks
            .iter()
            .filter(|(s, _)| *s < t)
            .map(|(s, e)| (*e).min(t) - s)
            .sum()
    }
}

/// What the scripted model does with a request for a response.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Speak this much audio.
    Speak { ms: u64 },
    /// Call a tool (and say nothing).
    Tool { name: String, arguments: String },
    /// Never create a response.
    Silent,
}

/// The OpenAI Realtime side: answers `session.update` after `ready_after_ms`
/// (or never, when `hang_session`), and answers each response request with
/// the next scripted reply, streaming `chunk_ms` of audio every
/// `chunk_every_ms` after `first_delta_ms`.
#[derive(Debug)]
pub struct ModelSim {
    pub ready_after_ms: u64,
    pub hang_session: bool,
    pub first_delta_ms: u64,
    pub chunk_ms: u64,
    pub chunk_every_ms: u64,
    /// Replies in order; when spent, every reply is `default_reply`.
    pub replies: Vec<Reply>,
    pub default_reply: Reply,
    pub connected: bool,
    /// Every connection: when, and the transcript it was given.
    pub connects: Vec<(Millis, Option<Vec<Turn>>)>,
    pub received: Vec<(Millis, ModelCommand)>,
    /// The SIP sideband: OpenAI plays the audio itself and says when it
    /// starts and stops (`OutputAudio`) instead of sending deltas.
    pub sip: bool,
    pub(crate) out: Timeline,
    pub(crate) responses: u32,
}

impl Default for ModelSim {
    fn default() -> Self {
        ModelSim {
            ready_after_ms: 50,
            hang_session: false,
            first_delta_ms: 30,
            chunk_ms: 100,
            chunk_every_ms: 100,
            replies: Vec::new(),
            default_reply: Reply::Speak { ms: 1000 },
            connected: false,
            connects: Vec::new(),
            received: Vec::new(),
            sip: false,
            out: Timeline::default(),
            responses: 0,
        }
    }
}

impl ModelSim {
    fn connect(&mut self, now: Millis, resume: Option<Vec<Turn>>) {
        self.out = Timeline::default();
        self.connected = true;
        self.connects.push((now, resume));
        if !self.hang_session {
            self.out.at(now + self.ready_after_ms, Event::ModelReady);
        }
    }

    fn disconnect(&mut self) {
        self.connected = false;
        self.out = Timeline::default();
    }

    fn receive(&mut self, cmd: ModelCommand, now: Millis) {
        self.received.push((now, cmd.clone()));
        if !self.connected {
            return;
        }
        if matches!(
            cmd,
            ModelCommand::Greet | ModelCommand::CreateResponse { .. }
        ) {
            let reply = if self.replies.is_empty() {
                self.default_reply.clone()
            } else {
                self.replies.remove(0)
            };
            self.respond(reply, now);
        }
    }

    /// Server VAD heard the caller: the response in flight is cancelled.
    fn caller_started_speaking(&mut self, now: Millis) {
        let streaming = self.out.0.iter().any(|(_, e)| {
            matches!(
                e,
                Event::AudioDelta { .. } | Event::ResponseDone { .. } | Event::OutputAudio { .. }
            )
        });
        self.out.0.retain(|(_, e)| {
            !matches!(
                e,
                Event::AudioDelta { .. } | Event::ResponseDone { .. } | Event::OutputAudio { .. }
            )
        });
        if streaming && self.sip {
            // `output_audio_buffer.cleared`.
            self.out.at(now + 5, Event::OutputAudio { playing: false });
        }
        if streaming {
            self.out.at(
                now + 5,
                Event::ResponseDone {
                    response_id: format!("r{}", self.responses),
                    status: ResponseStatus::Cancelled,
                },
            );
        }
    }

    /// Server VAD committed the caller's turn: the model answers it.
    fn caller_turn_committed(&mut self, now: Millis) {
        if self.connected {
            let reply = if self.replies.is_empty() {
                self.default_reply.clone()
            } else {
                self.replies.remove(0)
            };
            self.respond(reply, now);
        }
    }

    fn respond(&mut self, reply: Reply, now: Millis) {
        if matches!(reply, Reply::Silent) {
            return;
        }
        self.responses += 1;
        let n = self.responses;
        let (rid, item) = (format!("r{n}"), format!("a{n}"));
        let mut t = now + self.first_delta_ms / 2;
        self.out.at(
            t,
            Event::ResponseCreated {
                response_id: rid.clone(),
            },
        );
        t = now + self.first_delta_ms;
        match reply {
            Reply::Speak { ms } if self.sip => {
                self.out.at(t, Event::OutputAudio { playing: true });
                self.out.at(t + ms, Event::OutputAudio { playing: false });
            }
            Reply::Speak { ms } => {
                let mut sent = 0;
                while sent < ms {
                    let chunk = self.chunk_ms.min(ms - sent);
                    self.out.at(
                        t,
                        Event::AudioDelta {
                            response_id: rid.clone(),
                            item_id: item.clone(),
                            payload: audio(chunk),
                        },
                    );
                    sent += chunk;
                    t += self.chunk_every_ms;
                }
            }
            Reply::Tool { name, arguments } => self.out.at(
                t,
                Event::FunctionCall {
                    call_id: format!("call{n}"),
                    name,
                    arguments,
                },
            ),
            Reply::Silent => {}
        }
        self.out.at(
            t,
            Event::ResponseDone {
                response_id: rid,
                status: ResponseStatus::Completed,
            },
        );
    }
}

/// A scripted tool: its answer and how long it takes (`None`: never answers).
#[derive(Debug, Clone)]
pub struct ToolScript {
    pub name: String,
    pub after_ms: Option<u64>,
    pub output: String,
    pub effect: ToolEffect,
}

pub struct Pair {
    pub now: Millis,
    pub call: Call,
    pub twilio: TwilioSim,
    pub model: ModelSim,
    pub tools: Vec<ToolScript>,
    /// Caller-side and other scripted events.
    pub script: Timeline,
    /// Every command the machine gave, with its time.
    pub log: Vec<(Millis, Command)>,
    pub unexpected: Vec<String>,
    /// SIP: OpenAI's answer to a `refer`, `after` ms later (the status the
    /// engine reports as the dial outcome); `None`: never answers.
    pub refer_answer: Option<(u64, String)>,
}

impl Pair {
    pub fn new(cfg: MachineConfig, model: ModelSim) -> Pair {
        let (call, first) = Call::start(cfg, 0);
        let mut p = Pair {
            now: 0,
            call,
            twilio: TwilioSim::default(),
            model,
            tools: Vec::new(),
            script: Timeline::default(),
            log: Vec::new(),
            unexpected: Vec::new(),
            refer_answer: Some((40, "completed".into())),
        };
        p.execute(first);
        p
    }

    /// Runs the pair until `end` (or until nothing more can happen).
    pub fn run_until(&mut self, end: Millis) {
        for _ in 0..1_000_000 {
            let next = [
                self.twilio.marks.next(),
                self.model.out.next(),
                self.script.next(),
                self.call.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    return;
                }
            }
            let now = self.now;
            let mut due = self.twilio.marks.due(now);
            for e in &due {
                if let Event::Mark { name } = e {
                    self.twilio.marks_echoed.push((now, name.clone()));
                }
            }
            due.extend(self.model.out.due(now));
            due.extend(self.script.due(now));
            for e in due {
                self.deliver(e);
            }
            if self.call.poll_timeout().is_some_and(|t| t <= now) {
                let cmds = self.call.handle_timeout(now);
                self.execute(cmds);
            }
        }
        panic!("the pair never settled (a timer re-armed in the past?)");
    }

    pub fn deliver(&mut self, e: Event) {
        if matches!(e, Event::ModelFailed { .. }) {
            self.model.disconnect();
        }
        if matches!(e, Event::StreamStopped | Event::StreamLost) {
            self.twilio.marks = Timeline::default();
        }
        let now = self.now;
        match &e {
            Event::SpeechStarted => self.model.caller_started_speaking(now),
            Event::Committed { .. } => self.model.caller_turn_committed(now),
            _ => {}
        }
        match self.call.step(e, now) {
            Ok(cmds) => self.execute(cmds),
            Err(u) => self.unexpected.push(u.to_string()),
        }
    }

    fn execute(&mut self, cmds: Vec<Command>) {
        let now = self.now;
        for c in cmds {
            self.log.push((now, c.clone()));
            match c {
                Command::Twilio(t) => self.twilio.receive(t, now),
                Command::Model(m) => self.model.receive(m, now),
                Command::StartModel { resume } => self.model.connect(now, resume),
                Command::StopModel => self.model.disconnect(),
                Command::Sip(frontdesk_core::SipCommand::Refer { .. }) => {
                    if let Some((after, status)) = self.refer_answer.clone() {
                        self.script.at(now + after, Event::DialFinished { status });
                    }
                }
                Command::RunTool {
                    call_id,
                    name,
                    arguments: _,
                } => {
                    let Some(tool) = self.tools.iter().find(|t| t.name == name).cloned() else {
                        continue;
                    };
                    if let Some(after) = tool.after_ms {
                        self.script.at(
                            now + after,
                            Event::ToolFinished {
                                call_id,
                                name,
                                output: tool.output,
                                effect: tool.effect,
                                latency_ms: after,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Commands matching `f`, with their times.
    pub fn commands<T>(&self, f: impl Fn(&Command) -> Option<T>) -> Vec<(Millis, T)> {
        self.log
            .iter()
            .filter_map(|(t, c)| f(c).map(|x| (*t, x)))
            .collect()
    }

    /// When the machine recorded a transition into the stored state `to`.
    pub fn entered(&self, to: &str) -> Option<Millis> {
        self.commands(|c| match c {
            Command::Record(CallRecord::Transition { to: t, .. }) if *t == to => Some(()),
            _ => None,
        })
        .first()
        .map(|(t, _)| *t)
    }

    /// The caller says something: speech starts at `at`, the turn is
    /// committed `ms` later and transcribed just after.
    pub fn caller_says(&mut self, at: Millis, ms: u64, text: &str) {
        self.script.at(at, Event::SpeechStarted);
        let item_id = format!("u{at}");
        self.script.at(
            at + ms,
            Event::Committed {
                item_id: item_id.clone(),
            },
        );
        self.script.at(
            at + ms + 10,
            Event::Transcript {
                speaker: frontdesk_core::transcript::Speaker::Caller,
                item_id,
                text: text.into(),
            },
        );
    }

    pub fn stream_starts_at(&mut self, at: Millis) {
        self.script.at(
            at,
            Event::StreamStarted {
                stream_sid: "MZ1".into(),
            },
        );
    }

    pub fn state(&self) -> &'static str {
        self.call.state().name().as_str()
    }
}
