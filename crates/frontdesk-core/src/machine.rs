//! The call state machine: `Call::step(event, now) -> commands`.
//!
//! Sans-IO: no sockets, no clock reads, no actix types. Time comes in as
//! `now` (milliseconds on the call's clock); timers go out as
//! `Command::Arm` and come back as `Event::Timer`. The states are named after
//! what the call is doing and carry only their own data; what spans states
//! (playback, transcript, the model link, the restart budget) lives in
//! `Context`. A transition consumes the old state; an event a state does not
//! expect is an `Unexpected` error naming what it was waiting for, and leaves
//! the call as it was.

use super::command::{CallRecord, Command, ModelCommand, Outcome, TwilioCommand};
use super::decision::{Decision, Farewell, MenuPrompt, OnNoAnswer, Transfer};
use super::event::{Event, ResponseStatus, Timer, ToolEffect};
use super::playback::{Millis, Outbound, Playback};
use super::supervision::{Budget, RestartBudget, Verdict};
#[cfg(test)]
use super::transcript::Speaker;
use super::transcript::Transcript;

/// The knobs the machine needs, already in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineConfig {
    pub pacing_lead_ms: u64,
    pub barge_in_margin_ms: u64,
    pub hold_message_after_ms: u64,
    pub tool_timeout_ms: u64,
    pub silence_timeout_ms: u64,
    pub max_call_ms: u64,
    pub stream_start_timeout_ms: u64,
    pub model_ready_deadline_ms: u64,
    pub session_ready_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub session_cap_ms: u64,
    pub budget: Budget,
    /// Where DTMF 0 goes; `None` sends the caller to voicemail instead.
    pub operator: Option<Transfer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StateName {
    Connecting,
    Greeting,
    Conversing,
    ToolWait,
    Transferring,
    Voicemail,
    Menu,
    Ended,
}

impl StateName {
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Connecting => "connecting",
            StateName::Greeting => "greeting",
            StateName::Conversing => "conversing",
            StateName::ToolWait => "tool_wait",
            StateName::Transferring => "transferring",
            StateName::Voicemail => "voicemail",
            StateName::Menu => "menu",
            StateName::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Waiting for both the Twilio stream and the model session.
    Connecting {
        stream: bool,
    },
    /// The greeting is playing.
    Greeting,
    Conversing,
    /// Tools are running (the model may keep talking meanwhile).
    ToolWait {
        pending: Vec<String>,
    },
    /// The call left the stream for a `<Dial>`; waiting for its outcome.
    Transferring {
        target: Transfer,
    },
    /// The caller is recording a message.
    Voicemail {
        department: Option<String>,
    },
    /// The DTMF/speech menu; waiting for the caller's choice.
    Menu {
        attempts: u32,
    },
    Ended {
        outcome: Outcome,
    },
}

impl State {
    pub fn name(&self) -> StateName {
        match self {
            State::Connecting { .. } => StateName::Connecting,
            State::Greeting => StateName::Greeting,
            State::Conversing => StateName::Conversing,
            State::ToolWait { .. } => StateName::ToolWait,
            State::Transferring { .. } => StateName::Transferring,
            State::Voicemail { .. } => StateName::Voicemail,
            State::Menu { .. } => StateName::Menu,
            State::Ended { .. } => StateName::Ended,
        }
    }

    /// What this state is waiting for, for `Unexpected` errors.
    pub fn expects(&self) -> &'static str {
        match self {
            State::Connecting { .. } => "the stream start and the model session",
            State::Greeting => "the greeting to play out or the caller to speak",
            State::Conversing => "conversation events",
            State::ToolWait { .. } => "tool results",
            State::Transferring { .. } => "the after-stream request or the dial outcome",
            State::Voicemail { .. } => "the after-stream request or the recording",
            State::Menu { .. } => "the after-stream request or a menu choice",
            State::Ended { .. } => "nothing (the call is over)",
        }
    }

    /// Is the AI conversation (stream + model) the current mode?
    fn is_live(&self) -> bool {
        matches!(
            self,
            State::Connecting { .. } | State::Greeting | State::Conversing | State::ToolWait { .. }
        )
    }
}

/// An event the current state does not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected {event} in state {state}: expected {expected}")]
pub struct Unexpected {
    pub state: &'static str,
    pub event: &'static str,
    pub expected: &'static str,
}

/// The model connection, as far as the call is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `session.update` sent, waiting for `session.updated`.
    Starting,
    Ready,
    /// Failed; a restart is scheduled.
    Down,
    /// Not running and not coming back (menu, transfer, ended).
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Context {
    cfg: MachineConfig,
    pub link: Link,
    pub playback: Playback,
    pub transcript: Transcript,
    budget: RestartBudget,
    stream_up: bool,
    greeted: bool,
    greeting_response: Option<String>,
    greeting_done: bool,
    response_active: Option<String>,
    /// A `response.create` waits for the active response to finish.
    response_owed: bool,
    /// A response was asked for and has not started yet.
    awaiting_response: bool,
    /// Tool results that arrived while the model was away.
    late_results: Vec<String>,
    /// Leave the stream once the closing words have played.
    pending_exit: Option<Decision>,
    /// The decision the stream was left with (answers after-stream).
    left_with: Option<Decision>,
    recycle_pending: bool,
    last_activity: Millis,
    silence_nudged: bool,
    /// Every function call seen: (call id, name, arguments).
    tool_calls: Vec<(String, String, String)>,
}

impl Context {
    /// The model is speaking, or about to: a response is active, asked for,
    /// or owed once the active one ends.
    fn model_busy(&self) -> bool {
        self.response_active.is_some() || self.response_owed || self.awaiting_response
    }

    fn arguments_of(&self, call_id: &str) -> String {
        self.tool_calls
            .iter()
            .find(|(c, _, _)| c == call_id)
            .map(|(_, _, a)| a.clone())
            .unwrap_or_default()
    }

    fn name_of(&self, call_id: &str) -> String {
        self.tool_calls
            .iter()
            .find(|(c, _, _)| c == call_id)
            .map(|(_, n, _)| n.clone())
            .unwrap_or_default()
    }
}

/// One call's machine.
#[derive(Debug, Clone)]
pub struct Call {
    state: State,
    pub ctx: Context,
}

/// What DTMF/speech choices in the menu mean.
const MENU_HOURS: &str = "1";
const MENU_MESSAGE: &str = "2";
const MENU_OPERATOR: &str = "0";
/// After this many unusable menu inputs the caller is sent to voicemail.
const MENU_MAX_ATTEMPTS: u32 = 3;

/// What the model is asked to do when the caller goes quiet.
pub const SILENCE_NUDGE: &str =
    "The caller has been silent for a while. Briefly ask whether they are still there.";

impl Call {
    /// A new call (webhook received) and its first commands: open the model
    /// session at once so it is ready when the stream starts.
    pub fn start(cfg: MachineConfig, now: Millis) -> (Call, Vec<Command>) {
        let commands = vec![
            Command::StartModel { resume: None },
            Command::Arm {
                timer: Timer::SessionReady,
                at: now + cfg.session_ready_timeout_ms,
            },
            Command::Arm {
                timer: Timer::StreamStart,
                at: now + cfg.stream_start_timeout_ms,
            },
            Command::Arm {
                timer: Timer::MaxDuration,
                at: now + cfg.max_call_ms,
            },
        ];
        let call = Call {
            state: State::Connecting { stream: false },
            ctx: Context {
                playback: Playback::new(cfg.pacing_lead_ms, cfg.barge_in_margin_ms),
                budget: RestartBudget::new(cfg.budget),
                cfg,
                link: Link::Starting,
                transcript: Transcript::default(),
                stream_up: false,
                greeted: false,
                greeting_response: None,
                greeting_done: false,
                response_active: None,
                response_owed: false,
                awaiting_response: false,
                late_results: Vec::new(),
                pending_exit: None,
                left_with: None,
                recycle_pending: false,
                last_activity: now,
                silence_nudged: false,
                tool_calls: Vec::new(),
            },
        };
        (call, commands)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Should caller audio go to the model right now?
    pub fn forwards_caller_audio(&self) -> bool {
        self.state.is_live() && self.ctx.link == Link::Ready
    }

    /// Feed one event. On `Err` nothing changed.
    pub fn step(&mut self, event: Event, now: Millis) -> Result<Vec<Command>, Unexpected> {
        let placeholder = State::Ended {
            outcome: Outcome::Hangup,
        };
        let old = std::mem::replace(&mut self.state, placeholder);
        let from = old.name();
        let mut out = Vec::new();
        match transition(old, &mut self.ctx, event, now, &mut out) {
            Ok((state, cause)) => {
                let to = state.name();
                if from != to {
                    out.push(Command::Record(CallRecord::Transition {
                        from: from.as_str(),
                        to: to.as_str(),
                        cause,
                    }));
                    if let State::Ended { outcome } = state {
                        self.ctx.link = Link::Stopped;
                        out.push(Command::Record(CallRecord::Ended { outcome }));
                        out.push(Command::Finish(outcome));
                    }
                }
                self.state = state;
                Ok(out)
            }
            Err((state, unexpected)) => {
                self.state = state;
                Err(unexpected)
            }
        }
    }
}

type Step = Result<(State, String), (State, Unexpected)>;

fn unexpected(state: State, event: &Event) -> Step {
    let u = Unexpected {
        state: state.name().as_str(),
        event: event.name(),
        expected: state.expects(),
    };
    Err((state, u))
}

fn stay(state: State) -> Step {
    Ok((state, String::new()))
}

fn go(state: State, cause: impl Into<String>) -> Step {
    Ok((state, cause.into()))
}

fn transition(
    state: State,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if state.is_live() {
        return live(state, ctx, event, now, out);
    }
    match (state, event) {
        // ---- Ended ----
        (State::Ended { outcome }, Event::AfterStream) => {
            let decision = ctx.left_with.clone().unwrap_or(Decision::Hangup {
                farewell: Farewell::None,
            });
            out.push(Command::Reply(decision));
            stay(State::Ended { outcome })
        }
        (s @ State::Ended { .. }, Event::StreamStopped | Event::StreamLost) => stay(s),

        // ---- After the stream: a pending webhook asks what next ----
        (
            s @ (State::Transferring { .. } | State::Voicemail { .. } | State::Menu { .. }),
            Event::AfterStream,
        ) => {
            let decision = match &s {
                State::Transferring { target } => Decision::Transfer(target.clone()),
                State::Voicemail { department } => Decision::Voicemail {
                    department: department.clone(),
                },
                _ => ctx.left_with.clone().unwrap_or(Decision::Menu {
                    prompt: MenuPrompt::Welcome,
                }),
            };
            out.push(Command::Reply(decision));
            stay(s)
        }
        // The stream closing is what leaving it means.
        (
            s @ (State::Transferring { .. } | State::Voicemail { .. } | State::Menu { .. }),
            Event::StreamStopped | Event::StreamLost,
        ) => stay(s),
        // A model-gave-up menu decided before the stream existed.
        (State::Menu { attempts }, Event::StreamStarted { .. }) => {
            let d = Decision::Menu {
                prompt: MenuPrompt::Welcome,
            };
            ctx.left_with = Some(d.clone());
            out.push(Command::LeaveStream(d));
            stay(State::Menu { attempts })
        }

        // ---- Transferring ----
        (State::Transferring { target }, Event::DialFinished { status }) => match status.as_str() {
            "completed" | "answered" => {
                out.push(Command::Reply(Decision::Hangup {
                    farewell: Farewell::None,
                }));
                go(
                    State::Ended {
                        outcome: Outcome::Transferred,
                    },
                    format!("dial {status}"),
                )
            }
            _ => {
                out.push(Command::Record(CallRecord::TransferFailed {
                    department: target.department.clone(),
                    status: status.clone(),
                }));
                match target.on_no_answer {
                    OnNoAnswer::Voicemail => {
                        let d = Decision::Voicemail {
                            department: Some(target.department.clone()),
                        };
                        out.push(Command::Record(CallRecord::Decision(d.clone())));
                        out.push(Command::Reply(d));
                        go(
                            State::Voicemail {
                                department: Some(target.department),
                            },
                            format!("dial {status}"),
                        )
                    }
                    OnNoAnswer::Assistant => back_to_assistant(ctx, &target, &status, now, out),
                }
            }
        },

        // ---- Voicemail ----
        (State::Voicemail { .. }, Event::RecordingFinished) => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::MessageTaken,
            }));
            go(
                State::Ended {
                    outcome: Outcome::Voicemail,
                },
                "recording finished",
            )
        }

        // ---- Menu ----
        (
            State::Menu { attempts },
            Event::MenuInput {
                digits,
                speech,
                operator_open,
            },
        ) => menu_choice(attempts, ctx, digits, speech, operator_open, out),

        // Anyone can be hung up on.
        (s, Event::Hangup { reason }) => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::Goodbye,
            }));
            drop(s);
            go(
                State::Ended {
                    outcome: Outcome::Hangup,
                },
                reason,
            )
        }
        (s, Event::Timer(Timer::MaxDuration)) if !matches!(s, State::Ended { .. }) => go(
            State::Ended {
                outcome: Outcome::MaxDuration,
            },
            "max call duration",
        ),
        // Stale timers of the conversation are harmless after leaving it.
        (s, Event::Timer(_)) => stay(s),
        (s, event) => unexpected(s, &event),
    }
}

/// What a menu input asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuChoice {
    Hours,
    Message,
    Operator,
    /// Nothing usable was pressed or said.
    Unclear,
}

/// Reads the caller's keypress or words in the DTMF/speech menu.
pub fn read_menu_input(digits: Option<&str>, speech: Option<&str>) -> MenuChoice {
    let speech = speech.unwrap_or_default().to_lowercase();
    let digits = digits.unwrap_or_default().trim();
    let said = |words: &[&str]| words.iter().any(|w| speech.contains(w));
    if digits == MENU_OPERATOR
        || said(&["operator", "person", "someone", "human", "representative"])
    {
        MenuChoice::Operator
    } else if digits == MENU_MESSAGE || said(&["message", "voicemail"]) {
        MenuChoice::Message
    } else if digits == MENU_HOURS || said(&["hour", "open", "close"]) {
        MenuChoice::Hours
    } else {
        MenuChoice::Unclear
    }
}

fn menu_choice(
    attempts: u32,
    ctx: &mut Context,
    digits: Option<String>,
    speech: Option<String>,
    operator_open: bool,
    out: &mut Vec<Command>,
) -> Step {
    let choice = read_menu_input(digits.as_deref(), speech.as_deref());
    match (choice, ctx.cfg.operator.clone()) {
        // A closed department is not dialled: its voicemail instead.
        (MenuChoice::Operator, Some(op)) if !operator_open => {
            let d = Decision::Voicemail {
                department: Some(op.department.clone()),
            };
            out.push(Command::Record(CallRecord::Decision(d.clone())));
            out.push(Command::Reply(d));
            go(
                State::Voicemail {
                    department: Some(op.department),
                },
                "menu: operator closed",
            )
        }
        (MenuChoice::Operator, Some(op)) => {
            let d = Decision::Transfer(op.clone());
            out.push(Command::Record(CallRecord::Decision(d.clone())));
            out.push(Command::Reply(d));
            go(State::Transferring { target: op }, "menu: operator")
        }
        // No operator configured: a message is the next best thing.
        (MenuChoice::Operator, None) | (MenuChoice::Message, _) => {
            let d = Decision::Voicemail { department: None };
            out.push(Command::Record(CallRecord::Decision(d.clone())));
            out.push(Command::Reply(d));
            go(State::Voicemail { department: None }, "menu: message")
        }
        (MenuChoice::Hours, _) => {
            out.push(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Hours,
            }));
            stay(State::Menu { attempts })
        }
        (MenuChoice::Unclear, _) => {
            let attempts = attempts + 1;
            if attempts >= MENU_MAX_ATTEMPTS {
                out.push(Command::Reply(Decision::Voicemail { department: None }));
                return go(
                    State::Voicemail { department: None },
                    "menu: no usable input",
                );
            }
            out.push(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Retry,
            }));
            stay(State::Menu { attempts })
        }
    }
}

/// The AI conversation: Connecting, Greeting, Conversing, ToolWait.
fn live(
    state: State,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::StreamStarted { .. } => {
            ctx.stream_up = true;
            ctx.last_activity = now;
            out.push(Command::Disarm(Timer::StreamStart));
            out.push(Command::Disarm(Timer::StreamLost));
            out.push(Command::Arm {
                timer: Timer::Silence,
                at: now + ctx.cfg.silence_timeout_ms,
            });
            let sent = ctx.playback.stream_started(now);
            emit_outbound(ctx, sent, out);
            match state {
                State::Connecting { .. } if ctx.link == Link::Ready => {
                    go(State::Greeting, "stream started")
                }
                State::Connecting { .. } => {
                    out.push(Command::Arm {
                        timer: Timer::ModelReadyDeadline,
                        at: now + ctx.cfg.model_ready_deadline_ms,
                    });
                    stay(State::Connecting { stream: true })
                }
                // A reconnected stream after a drop: carry on.
                other => stay(other),
            }
        }
        Event::StreamStopped => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::CallerHungUp,
                },
                "caller hung up",
            )
        }
        Event::StreamLost => {
            // Twilio will ask the Connect action what next; we answer with a
            // fresh stream. If nothing comes back, the call is gone.
            ctx.stream_up = false;
            ctx.playback.reset();
            out.push(Command::Arm {
                timer: Timer::StreamLost,
                at: now + ctx.cfg.stream_start_timeout_ms,
            });
            stay(state)
        }
        Event::AfterStream => {
            out.push(Command::Reply(Decision::Reconnect));
            stay(state)
        }
        Event::Timer(Timer::StreamLost) if !ctx.stream_up => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::Lost,
                },
                "stream lost",
            )
        }
        Event::Timer(Timer::StreamStart) => {
            if matches!(state, State::Connecting { stream: false }) {
                out.push(Command::StopModel);
                go(
                    State::Ended {
                        outcome: Outcome::Abandoned,
                    },
                    "stream never started",
                )
            } else {
                stay(state)
            }
        }
        Event::Timer(Timer::MaxDuration) => leave(
            ctx,
            Decision::Hangup {
                farewell: Farewell::TimeLimit,
            },
            Outcome::MaxDuration,
            "max call duration",
            out,
        ),
        Event::Hangup { reason } => leave(
            ctx,
            Decision::Hangup {
                farewell: Farewell::Goodbye,
            },
            Outcome::Hangup,
            &reason,
            out,
        ),
        Event::Timer(Timer::ModelReadyDeadline) => {
            if matches!(state, State::Connecting { .. }) && ctx.link != Link::Ready {
                to_menu(ctx, "model not ready in time", now, out)
            } else {
                stay(state)
            }
        }
        Event::Dtmf {
            digit,
            operator_open,
        } => {
            ctx.last_activity = now;
            if digit == '0' {
                return match ctx.cfg.operator.clone() {
                    Some(op) if !operator_open => {
                        let department = Some(op.department);
                        leave_to(
                            ctx,
                            Decision::Voicemail {
                                department: department.clone(),
                            },
                            State::Voicemail { department },
                            "caller pressed 0; operator closed",
                            out,
                        )
                    }
                    Some(op) => leave_to(
                        ctx,
                        Decision::Transfer(op.clone()),
                        State::Transferring { target: op },
                        "caller pressed 0",
                        out,
                    ),
                    None => leave_to(
                        ctx,
                        Decision::Voicemail { department: None },
                        State::Voicemail { department: None },
                        "caller pressed 0",
                        out,
                    ),
                };
            }
            if ctx.link == Link::Ready {
                out.push(Command::Model(ModelCommand::SystemNote {
                    text: format!("The caller pressed {digit} on the keypad."),
                }));
                request_response(ctx, None, now, out);
            }
            stay(state)
        }
        Event::Mark { name } => {
            ctx.playback.mark_echoed(&name, now);
            after_playback_progress(state, ctx, now, out)
        }
        Event::Timer(Timer::Pace) => {
            let sent = ctx.playback.paced(now);
            emit_outbound(ctx, sent, out);
            stay(state)
        }
        Event::CallerVoice { .. } => {
            ctx.last_activity = now;
            ctx.silence_nudged = false;
            stay(state)
        }
        Event::Timer(Timer::Silence) => silence(state, ctx, now, out),
        Event::Timer(Timer::ExitDeadline) => match ctx.pending_exit.take() {
            Some(d) => exit_with(ctx, d, out),
            None => stay(state),
        },

        // ---- model connection ----
        Event::ModelReady => model_ready(state, ctx, now, out),
        Event::ModelFailed { reason } => model_failed(state, ctx, reason, now, out),
        Event::ModelError { code, message } => {
            out.push(Command::Record(CallRecord::ModelError {
                code: code.clone(),
                message: message.clone(),
            }));
            if code.as_deref() == Some("session_expired") {
                return model_failed(state, ctx, format!("session expired: {message}"), now, out);
            }
            stay(state)
        }
        Event::Timer(Timer::SessionReady) => {
            if ctx.link == Link::Starting {
                model_failed(
                    state,
                    ctx,
                    "session.updated not received in time".into(),
                    now,
                    out,
                )
            } else {
                stay(state)
            }
        }
        Event::Timer(Timer::ResponseDeadline) => {
            if ctx.link == Link::Ready && ctx.response_active.is_none() {
                model_failed(
                    state,
                    ctx,
                    "no response to the caller's turn in time".into(),
                    now,
                    out,
                )
            } else {
                stay(state)
            }
        }
        Event::Timer(Timer::ModelRestart) => {
            if ctx.link == Link::Down {
                ctx.link = Link::Starting;
                out.push(Command::StartModel {
                    resume: Some(ctx.transcript.replay()),
                });
                out.push(Command::Arm {
                    timer: Timer::SessionReady,
                    at: now + ctx.cfg.session_ready_timeout_ms,
                });
            }
            stay(state)
        }
        Event::Timer(Timer::HoldMessage) => {
            if ctx.link != Link::Ready && ctx.stream_up {
                out.push(Command::PlayHoldMessage);
            }
            stay(state)
        }
        Event::Timer(Timer::Recycle) => {
            if ctx.response_active.is_none() && !matches!(state, State::ToolWait { .. }) {
                recycle(ctx, now, out);
            } else {
                ctx.recycle_pending = true;
            }
            stay(state)
        }
        Event::SpeechStarted => {
            ctx.last_activity = now;
            ctx.silence_nudged = false;
            let cut = ctx.playback.interrupt(ctx.response_active.as_deref(), now);
            if cut.clear {
                out.push(Command::Twilio(TwilioCommand::Clear));
                out.push(Command::Disarm(Timer::Pace));
            }
            if let Some(t) = cut.truncate {
                ctx.transcript.truncated(&t.item_id, t.heard_fraction);
                out.push(Command::Model(ModelCommand::Truncate {
                    item_id: t.item_id,
                    audio_end_ms: t.audio_end_ms,
                }));
            }
            match state {
                State::Greeting => {
                    ctx.greeting_done = true;
                    go(State::Conversing, "caller spoke over the greeting")
                }
                other => stay(other),
            }
        }
        Event::Committed { .. } => {
            ctx.last_activity = now;
            out.push(Command::Arm {
                timer: Timer::ResponseDeadline,
                at: now + ctx.cfg.response_timeout_ms,
            });
            match state {
                State::Greeting => {
                    ctx.greeting_done = true;
                    go(State::Conversing, "caller spoke")
                }
                other => stay(other),
            }
        }
        Event::ResponseCreated { response_id } => {
            out.push(Command::Disarm(Timer::ResponseDeadline));
            ctx.awaiting_response = false;
            if ctx.greeted && ctx.greeting_response.is_none() {
                ctx.greeting_response = Some(response_id.clone());
            }
            ctx.response_active = Some(response_id);
            stay(state)
        }
        Event::AudioDelta {
            response_id,
            item_id,
            payload,
        } => {
            if ctx.playback.is_cancelled(&response_id) {
                return stay(state); // late audio of an interrupted response
            }
            ctx.last_activity = now;
            let sent = ctx.playback.push(&response_id, &item_id, payload, now);
            emit_outbound(ctx, sent, out);
            stay(state)
        }
        Event::Transcript {
            speaker,
            item_id,
            text,
        } => {
            if let Some(turn) = ctx.transcript.add(speaker, &item_id, &text) {
                out.push(Command::Record(CallRecord::Turn(turn.clone())));
            }
            stay(state)
        }
        Event::ResponseDone {
            response_id,
            status,
        } => {
            if ctx.response_active.as_deref() == Some(response_id.as_str()) {
                ctx.response_active = None;
            }
            // Marks are sparse: the end of the answer needs one of its own.
            let sent = ctx.playback.response_done(&response_id);
            emit_outbound(ctx, sent, out);
            if status == ResponseStatus::Failed {
                out.push(Command::Record(CallRecord::ModelError {
                    code: Some("response_failed".into()),
                    message: format!("response {response_id} failed"),
                }));
            }
            if ctx.greeting_response.as_deref() == Some(response_id.as_str())
                && status != ResponseStatus::Completed
            {
                ctx.greeting_done = true;
            }
            if ctx.response_owed && ctx.link == Link::Ready {
                ctx.response_owed = false;
                ask_model(
                    ctx,
                    ModelCommand::CreateResponse { instructions: None },
                    now,
                    out,
                );
            }
            if ctx.recycle_pending
                && !matches!(state, State::ToolWait { .. })
                && ctx.response_active.is_none()
            {
                ctx.recycle_pending = false;
                recycle(ctx, now, out);
            }
            if ctx.pending_exit.is_some() && !ctx.model_busy() {
                // Give the closing words time to play even if marks never come.
                let left = ctx
                    .playback
                    .current()
                    .map(|i| i.generated_ms.saturating_sub(i.played_ms))
                    .unwrap_or(0);
                out.push(Command::Arm {
                    timer: Timer::ExitDeadline,
                    at: now + left + 1500,
                });
            }
            after_playback_progress(state, ctx, now, out)
        }
        Event::FunctionCall {
            call_id,
            name,
            arguments,
        } => {
            if ctx.tool_calls.iter().any(|(c, _, _)| *c == call_id) {
                return stay(state); // also listed in response.done
            }
            ctx.tool_calls
                .push((call_id.clone(), name.clone(), arguments.clone()));
            out.push(Command::RunTool {
                call_id: call_id.clone(),
                name,
                arguments,
            });
            out.push(Command::Arm {
                timer: Timer::Tool(call_id.clone()),
                at: now + ctx.cfg.tool_timeout_ms,
            });
            match state {
                State::ToolWait { mut pending } => {
                    pending.push(call_id);
                    stay(State::ToolWait { pending })
                }
                State::Greeting | State::Conversing | State::Connecting { .. } => {
                    ctx.greeting_done = true;
                    go(
                        State::ToolWait {
                            pending: vec![call_id],
                        },
                        "function call",
                    )
                }
                other => stay(other),
            }
        }
        Event::ToolFinished {
            call_id,
            name,
            output,
            effect,
            latency_ms,
        } => {
            let State::ToolWait { mut pending } = state else {
                return unexpected(
                    state,
                    &Event::ToolFinished {
                        call_id,
                        name,
                        output,
                        effect,
                        latency_ms,
                    },
                );
            };
            let Some(pos) = pending.iter().position(|c| *c == call_id) else {
                // Already answered by its deadline.
                return stay(State::ToolWait { pending });
            };
            pending.remove(pos);
            out.push(Command::Disarm(Timer::Tool(call_id.clone())));
            out.push(Command::Record(CallRecord::Tool {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: ctx.arguments_of(&call_id),
                output: output.clone(),
                latency_ms,
            }));
            deliver_tool_output(ctx, &call_id, &name, output, now, out);
            match effect {
                ToolEffect::None => {}
                ToolEffect::EndCall => {
                    ctx.pending_exit = Some(Decision::Hangup {
                        farewell: Farewell::None,
                    })
                }
                ToolEffect::Transfer(t) => ctx.pending_exit = Some(Decision::Transfer(t)),
                ToolEffect::Voicemail { department } => {
                    ctx.pending_exit = Some(Decision::Voicemail { department })
                }
            }
            if pending.is_empty() {
                go(State::Conversing, format!("{name} finished"))
            } else {
                stay(State::ToolWait { pending })
            }
        }
        Event::Timer(Timer::Tool(call_id)) => {
            let State::ToolWait { mut pending } = state else {
                return stay(state);
            };
            let Some(pos) = pending.iter().position(|c| *c == call_id) else {
                return stay(State::ToolWait { pending });
            };
            pending.remove(pos);
            let output = r#"{"error":"timeout","message":"The tool did not answer in time. Apologise and offer to take a message."}"#.to_string();
            let name = ctx.name_of(&call_id);
            out.push(Command::Record(CallRecord::Tool {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: ctx.arguments_of(&call_id),
                output: output.clone(),
                latency_ms: ctx.cfg.tool_timeout_ms,
            }));
            deliver_tool_output(ctx, &call_id, &name, output, now, out);
            if pending.is_empty() {
                go(State::Conversing, "tool deadline passed")
            } else {
                stay(State::ToolWait { pending })
            }
        }
        // A timer of something already over (e.g. StreamLost after a reconnect).
        Event::Timer(_) => stay(state),
        other @ (Event::MenuInput { .. }
        | Event::DialFinished { .. }
        | Event::RecordingFinished) => unexpected(state, &other),
    }
}

fn deliver_tool_output(
    ctx: &mut Context,
    call_id: &str,
    name: &str,
    output: String,
    now: Millis,
    out: &mut Vec<Command>,
) {
    if ctx.link == Link::Ready {
        out.push(Command::Model(ModelCommand::FunctionOutput {
            call_id: call_id.to_string(),
            output,
        }));
        request_response(ctx, None, now, out);
    } else {
        // The function call lived in the old session; tell the new one in words.
        ctx.late_results.push(format!("Result of {name}: {output}"));
    }
}

/// Ask for a response now, or as soon as the active one is done.
fn request_response(
    ctx: &mut Context,
    instructions: Option<String>,
    now: Millis,
    out: &mut Vec<Command>,
) {
    if ctx.response_active.is_some() {
        ctx.response_owed = true;
    } else {
        ask_model(ctx, ModelCommand::CreateResponse { instructions }, now, out);
    }
}

/// Sends a command that must produce a response; a model that does not
/// start one in time is treated as failed.
fn ask_model(ctx: &mut Context, cmd: ModelCommand, now: Millis, out: &mut Vec<Command>) {
    ctx.awaiting_response = true;
    out.push(Command::Model(cmd));
    out.push(Command::Arm {
        timer: Timer::ResponseDeadline,
        at: now + ctx.cfg.response_timeout_ms,
    });
}

fn emit_outbound(ctx: &mut Context, sent: Vec<Outbound>, out: &mut Vec<Command>) {
    for o in sent {
        out.push(Command::Twilio(match o {
            Outbound::Media(p) => TwilioCommand::Media(p),
            Outbound::Mark(m) => TwilioCommand::Mark(m),
        }));
    }
    if let Some(at) = ctx.playback.next_drain_change() {
        out.push(Command::Arm {
            timer: Timer::Pace,
            at,
        });
    }
}

/// Marks or a finished response may complete the greeting or a pending exit.
fn after_playback_progress(
    state: State,
    ctx: &mut Context,
    _now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if ctx.pending_exit.is_some() && !ctx.model_busy() && !ctx.playback.has_unplayed() {
        if let Some(d) = ctx.pending_exit.take() {
            out.push(Command::Disarm(Timer::ExitDeadline));
            return exit_with(ctx, d, out);
        }
    }
    if matches!(state, State::Greeting) {
        let greeting_over = ctx
            .greeting_response
            .as_ref()
            .is_some_and(|_| ctx.response_active.is_none())
            && !ctx.playback.has_unplayed();
        if greeting_over || ctx.greeting_done {
            ctx.greeting_done = true;
            return go(State::Conversing, "greeting played");
        }
    }
    stay(state)
}

fn exit_with(ctx: &mut Context, d: Decision, out: &mut Vec<Command>) -> Step {
    match d.clone() {
        Decision::Transfer(t) => {
            leave_to(ctx, d, State::Transferring { target: t }, "transfer", out)
        }
        Decision::Voicemail { department } => {
            leave_to(ctx, d, State::Voicemail { department }, "voicemail", out)
        }
        Decision::Menu { .. } => leave_to(ctx, d, State::Menu { attempts: 0 }, "menu", out),
        Decision::Hangup { .. } | Decision::Reconnect => {
            leave(ctx, d, Outcome::Completed, "assistant ended the call", out)
        }
    }
}

/// An unanswered transfer whose department sends callers back to the
/// assistant: a fresh stream (Twilio reconnects on the reply) and a fresh
/// model session that knows what happened.
fn back_to_assistant(
    ctx: &mut Context,
    target: &Transfer,
    status: &str,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    let d = Decision::Reconnect;
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    out.push(Command::Reply(d));
    ctx.left_with = None;
    ctx.link = Link::Starting;
    ctx.late_results.push(format!(
        "The transfer to {} was not answered ({status}). Tell the caller, and offer to take a message.",
        target.department
    ));
    ctx.response_owed = true;
    out.push(Command::StartModel {
        resume: Some(ctx.transcript.replay()),
    });
    out.push(Command::Arm {
        timer: Timer::SessionReady,
        at: now + ctx.cfg.session_ready_timeout_ms,
    });
    out.push(Command::Arm {
        timer: Timer::StreamLost,
        at: now + ctx.cfg.stream_start_timeout_ms,
    });
    go(
        State::Conversing,
        format!("dial {status}: back to the assistant"),
    )
}

/// Leave the stream for a state that waits on Twilio (transfer, voicemail, menu).
fn leave_to(
    ctx: &mut Context,
    d: Decision,
    next: State,
    cause: &str,
    out: &mut Vec<Command>,
) -> Step {
    ctx.left_with = Some(d.clone());
    ctx.link = Link::Stopped;
    ctx.stream_up = false;
    ctx.playback.stream_stopped();
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    out.push(Command::StopModel);
    out.push(Command::LeaveStream(d));
    go(next, cause)
}

/// Leave the stream and end the call.
fn leave(
    ctx: &mut Context,
    d: Decision,
    outcome: Outcome,
    cause: &str,
    out: &mut Vec<Command>,
) -> Step {
    ctx.left_with = Some(d.clone());
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    out.push(Command::StopModel);
    out.push(Command::LeaveStream(d));
    go(State::Ended { outcome }, cause)
}

fn to_menu(ctx: &mut Context, cause: &str, _now: Millis, out: &mut Vec<Command>) -> Step {
    let d = Decision::Menu {
        prompt: MenuPrompt::Welcome,
    };
    ctx.link = Link::Stopped;
    out.push(Command::StopModel);
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    if ctx.stream_up {
        ctx.left_with = Some(d.clone());
        out.push(Command::LeaveStream(d));
    }
    // Without a stream yet, the menu is announced when it starts.
    go(State::Menu { attempts: 0 }, cause)
}

fn model_ready(state: State, ctx: &mut Context, now: Millis, out: &mut Vec<Command>) -> Step {
    if ctx.link == Link::Ready {
        return stay(state); // a second session.updated (our own later update)
    }
    ctx.link = Link::Ready;
    out.push(Command::Disarm(Timer::SessionReady));
    out.push(Command::Disarm(Timer::HoldMessage));
    out.push(Command::Disarm(Timer::ModelReadyDeadline));
    out.push(Command::Arm {
        timer: Timer::Recycle,
        at: now + ctx.cfg.session_cap_ms,
    });
    if !ctx.greeted {
        ctx.greeted = true;
        ask_model(ctx, ModelCommand::Greet, now, out);
    } else {
        for text in ctx.late_results.drain(..) {
            out.push(Command::Model(ModelCommand::SystemNote { text }));
        }
        let owed = ctx.transcript.caller_spoke_last()
            || ctx.response_owed
            || matches!(state, State::ToolWait { .. });
        ctx.response_owed = false;
        if owed {
            ask_model(
                ctx,
                ModelCommand::CreateResponse { instructions: None },
                now,
                out,
            );
        }
    }
    match state {
        State::Connecting { stream: true } => go(State::Greeting, "model ready"),
        other => stay(other),
    }
}

fn model_failed(
    state: State,
    ctx: &mut Context,
    reason: String,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if matches!(ctx.link, Link::Down | Link::Stopped) {
        return stay(state); // already handling it
    }
    ctx.link = Link::Down;
    ctx.response_active = None;
    ctx.awaiting_response = false;
    ctx.recycle_pending = false;
    out.push(Command::StopModel);
    out.push(Command::Disarm(Timer::SessionReady));
    out.push(Command::Disarm(Timer::ResponseDeadline));
    out.push(Command::Disarm(Timer::Recycle));
    // Half an answer is worse than none: the resumed model answers afresh.
    if ctx.playback.has_unplayed() {
        ctx.playback.interrupt(None, now);
        if ctx.stream_up {
            out.push(Command::Twilio(TwilioCommand::Clear));
        }
    }
    match ctx.budget.on_failure(now) {
        Verdict::RestartAfter(backoff) => {
            out.push(Command::Record(CallRecord::ModelRestart {
                reason,
                attempt: ctx.budget.spent(),
            }));
            out.push(Command::Arm {
                timer: Timer::ModelRestart,
                at: now + backoff,
            });
            out.push(Command::Arm {
                timer: Timer::HoldMessage,
                at: now + ctx.cfg.hold_message_after_ms,
            });
            stay(state)
        }
        Verdict::GiveUp => to_menu(ctx, &format!("model unavailable: {reason}"), now, out),
    }
}

/// A planned model restart before the provider's session cap: not a failure.
fn recycle(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
    ctx.link = Link::Starting;
    out.push(Command::StopModel);
    out.push(Command::StartModel {
        resume: Some(ctx.transcript.replay()),
    });
    out.push(Command::Arm {
        timer: Timer::SessionReady,
        at: now + ctx.cfg.session_ready_timeout_ms,
    });
}

fn silence(state: State, ctx: &mut Context, now: Millis, out: &mut Vec<Command>) -> Step {
    let quiet_since = ctx.last_activity;
    let timeout = ctx.cfg.silence_timeout_ms;
    let busy =
        ctx.playback.has_unplayed() || ctx.model_busy() || matches!(state, State::ToolWait { .. });
    if busy || now.saturating_sub(quiet_since) < timeout {
        let at = if busy {
            now + timeout
        } else {
            quiet_since + timeout
        };
        out.push(Command::Arm {
            timer: Timer::Silence,
            at,
        });
        return stay(state);
    }
    if !ctx.silence_nudged && ctx.link == Link::Ready {
        ctx.silence_nudged = true;
        ctx.last_activity = now;
        request_response(ctx, Some(SILENCE_NUDGE.to_string()), now, out);
        out.push(Command::Arm {
            timer: Timer::Silence,
            at: now + timeout,
        });
        return stay(state);
    }
    leave(
        ctx,
        Decision::Hangup {
            farewell: Farewell::NoResponse,
        },
        Outcome::Silence,
        "caller silent",
        out,
    )
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
