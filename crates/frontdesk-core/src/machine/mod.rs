//! The call state machine: `Call::step(event, now) -> commands`.
//!
//! Sans-IO: no sockets, no clock reads, no actix types. Time comes in as
//! `now` (milliseconds on the call's clock). Timers live in a table inside
//! the machine: the executor asks `poll_timeout()` for the earliest deadline
//! and calls `handle_timeout(now)` when it passes. The states are named after
//! what the call waits for and carry only their own data; what spans states
//! lives in `Context`. A transition consumes the old state; an event a state
//! does not expect is an `Unexpected` error naming what it was waiting for,
//! and leaves the call as it was.
//!
//! State-first: `transition` picks the state's function, which handles the
//! events that state cares about (`live.rs` for the AI conversation,
//! `after_stream.rs` for the TwiML states).

mod after_stream;
mod context;
mod conversation;
mod leave;
mod live;
mod model;
mod table;
mod timers;

use crate::transcript::Turn;
pub use after_stream::answer_without_call;
pub use context::{Context, Greeting, Link, Response, StreamLink};
pub use table::{Row, TRANSITIONS};

use crate::cause::Cause;
use crate::command::{CallRecord, Command, Outcome};
use crate::decision::Transfer;
use crate::event::{Event, Timer};
use crate::playback::Millis;
use crate::supervision::Budget;
use crate::transport::Transport;

/// The knobs the machine needs, already in milliseconds.
/// Serialisable: a call's flight record starts with it, so a replay
/// rebuilds the machine exactly as the call had it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// How long a parked call may go without a word from Twilio (see
    /// `Parking`).
    pub parking: Parking,
    /// How the call reaches us (flight records from before SIP have none).
    #[serde(default)]
    pub transport: Transport,
    /// SIP: where the call is referred when the assistant cannot serve it
    /// (the restart budget is spent, or a voicemail or the menu was asked
    /// for, which only the Twilio path has): a number that runs the Twilio
    /// menu. `None`: the operator.
    #[serde(default)]
    pub sip_fallback: Option<Transfer>,
}

/// Deadlines of the parked states. A caller who hangs up in the menu, during
/// the voicemail prompt or while a transfer rings is normally reported by
/// Twilio's call status callback; when that callback is not configured (or
/// lost), these end the call instead of `max_call_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Parking {
    /// The menu, since its last prompt or input: a `<Gather>` round lasts
    /// seconds, so a minute without one means nobody is there.
    pub menu_ms: u64,
    /// The voicemail prompt and recording, since the `<Record>` began: its
    /// longest message plus its silence timeout and slack.
    pub recording_ms: u64,
    /// A ringing transfer, since the `<Dial>` began: the ring time plus
    /// slack. Past it with no dial outcome the callee has answered.
    pub dial_ring_ms: u64,
}

/// The stored name of a state (call records, metrics, the doc's table).
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
    pub const ALL: [StateName; 8] = [
        StateName::Connecting,
        StateName::Greeting,
        StateName::Conversing,
        StateName::ToolWait,
        StateName::Transferring,
        StateName::Voicemail,
        StateName::Menu,
        StateName::Ended,
    ];

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

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Until both the Twilio stream and the model session are up.
    AwaitingStreamAndModel,
    /// The greeting is playing; the caller may speak over it.
    PlayingGreeting,
    Conversing,
    /// Tools are running (the model may keep talking meanwhile).
    AwaitingTools {
        pending: Vec<String>,
    },
    /// The call left the stream for a `<Dial>`.
    AwaitingDialOutcome {
        target: Transfer,
    },
    /// The caller is recording a message.
    AwaitingRecording {
        department: Option<String>,
    },
    /// The DTMF/speech menu.
    AwaitingMenuChoice {
        attempts: u32,
    },
    Ended {
        outcome: Outcome,
    },
}

impl State {
    pub fn name(&self) -> StateName {
        match self {
            State::AwaitingStreamAndModel => StateName::Connecting,
            State::PlayingGreeting => StateName::Greeting,
            State::Conversing => StateName::Conversing,
            State::AwaitingTools { .. } => StateName::ToolWait,
            State::AwaitingDialOutcome { .. } => StateName::Transferring,
            State::AwaitingRecording { .. } => StateName::Voicemail,
            State::AwaitingMenuChoice { .. } => StateName::Menu,
            State::Ended { .. } => StateName::Ended,
        }
    }

    /// What this state is waiting for, for `Unexpected` errors.
    pub fn expects(&self) -> &'static str {
        match self {
            State::AwaitingStreamAndModel => "the stream start and the model session",
            State::PlayingGreeting => "the greeting to play out or the caller to speak",
            State::Conversing => "conversation events",
            State::AwaitingTools { .. } => "tool results",
            State::AwaitingDialOutcome { .. } => "the after-stream request or the dial outcome",
            State::AwaitingRecording { .. } => "the after-stream request or the recording",
            State::AwaitingMenuChoice { .. } => "the after-stream request or a menu choice",
            State::Ended { .. } => "nothing (the call is over)",
        }
    }

    /// Is the AI conversation (stream + model) the current mode?
    fn is_live(&self) -> bool {
        matches!(
            self,
            State::AwaitingStreamAndModel
                | State::PlayingGreeting
                | State::Conversing
                | State::AwaitingTools { .. }
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

/// One call's machine. Serialisable as a whole, for a replay that stops at
/// a moment and shows everything the machine knows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Call {
    state: State,
    pub ctx: Context,
}

/// What a model resuming a call from a lost instance is told.
pub const RESUME_NOTE: &str = "The call was cut off for a moment by a technical problem and is connected again. \
     Apologise in a few words (for example \"Sorry about that, where were we?\") and carry on from where the conversation left off.";

/// What the model is asked to do when the caller goes quiet.
pub const SILENCE_NUDGE: &str =
    "The caller has been silent for a while. Briefly ask whether they are still there.";

impl Call {
    /// A new call (webhook received) and its first commands: open the model
    /// session at once so it is ready when the stream starts.
    pub fn start(cfg: MachineConfig, now: Millis) -> (Call, Vec<Command>) {
        let mut ctx = Context::new(cfg, now);
        let cfg = &ctx.cfg;
        let deadlines = [
            (Timer::SessionReady, now + cfg.session_ready_timeout_ms),
            (Timer::StreamStart, now + cfg.stream_start_timeout_ms),
            (Timer::MaxDuration, now + cfg.max_call_ms),
        ];
        let sip = cfg.transport == Transport::Sip;
        for (timer, at) in deadlines {
            ctx.timers.arm(timer, at);
        }
        if sip {
            // OpenAI has answered the SIP leg (we accepted it): the caller
            // is there from the start, as a started stream would say.
            let mut ignored = Vec::new();
            conversation::stream_started(&mut ctx, now, &mut ignored);
        }
        let call = Call {
            state: State::AwaitingStreamAndModel,
            ctx,
        };
        (call, vec![Command::StartModel { resume: None }])
    }

    /// A call taken over from an instance that was lost: Twilio asked this
    /// one what to do after the stream dropped. A fresh model gets the
    /// conversation as far as it was stored, is told what happened, and
    /// speaks first once the new stream is up — the caller hears "sorry,
    /// where were we", not a second greeting. `elapsed_ms`: how long the call
    /// has lasted, so its time limit still holds.
    pub fn resume(
        cfg: MachineConfig,
        now: Millis,
        turns: Vec<Turn>,
        elapsed_ms: u64,
    ) -> (Call, Vec<Command>) {
        let mut ctx = Context::new(cfg, now);
        for (i, t) in turns.iter().enumerate() {
            ctx.transcript
                .add(t.speaker, &format!("stored-{i}"), &t.text);
        }
        ctx.greeting = Greeting::Over;
        ctx.stream = StreamLink::Lost;
        ctx.response = Response::Owed;
        ctx.late_results.push(RESUME_NOTE.to_string());
        let cfg = &ctx.cfg;
        let deadlines = [
            (Timer::SessionReady, now + cfg.session_ready_timeout_ms),
            (Timer::StreamLost, now + cfg.stream_start_timeout_ms),
            (
                Timer::MaxDuration,
                now + cfg.max_call_ms.saturating_sub(elapsed_ms),
            ),
        ];
        for (timer, at) in deadlines {
            ctx.timers.arm(timer, at);
        }
        let first = vec![
            Command::Record(CallRecord::Transition {
                from: StateName::Connecting.as_str(),
                to: StateName::Conversing.as_str(),
                cause: Cause::ResumedAfterFailover,
            }),
            Command::StartModel {
                resume: Some(ctx.transcript.replay()),
            },
        ];
        let call = Call {
            state: State::Conversing,
            ctx,
        };
        (call, first)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Is the call in its AI conversation (not parked in the menu, a
    /// recording or a ringing transfer, nor over)? A draining instance
    /// waits only for these.
    pub fn in_conversation(&self) -> bool {
        self.state.is_live()
    }

    /// Should caller audio go to the model right now?
    pub fn forwards_caller_audio(&self) -> bool {
        self.state.is_live() && self.ctx.link == Link::Ready
    }

    /// The earliest armed deadline: the executor wakes the call then.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.ctx.timers.next()
    }

    /// When `timer` fires, if it is armed.
    pub fn timer_deadline(&self, timer: &Timer) -> Option<Millis> {
        self.ctx.timers.deadline(timer)
    }

    /// Fires every timer due at `now`, earliest first, each at most once: a
    /// timer re-armed at or before `now` waits for the next call.
    pub fn handle_timeout(&mut self, now: Millis) -> Vec<Command> {
        let mut out = Vec::new();
        let mut fired: Vec<Timer> = Vec::new();
        while let Some(timer) = self.ctx.timers.take_due(now) {
            if fired.contains(&timer) {
                self.ctx.timers.arm(timer, now);
                break;
            }
            fired.push(timer.clone());
            // Timers never produce `Unexpected`: a stale one is ignored.
            if let Ok(mut commands) = self.step(Event::Timer(timer), now) {
                out.append(&mut commands);
            }
        }
        out
    }

    /// Feed one event. On `Err` nothing changed.
    pub fn step(&mut self, event: Event, now: Millis) -> Result<Vec<Command>, Unexpected> {
        let placeholder = State::Ended {
            outcome: Outcome::Hangup,
        };
        let old = std::mem::replace(&mut self.state, placeholder);
        let from = old.name();
        // Twilio asking for the next step is the parked caller's sign of life.
        let twilio_asked = matches!(event, Event::AfterStream | Event::MenuInput { .. });
        let mut out = Vec::new();
        match transition(old, &mut self.ctx, event, now, &mut out) {
            Ok((state, cause)) => {
                let to = state.name();
                match parked_for(&state, &self.ctx.cfg.parking) {
                    Some(ms) if from != to || twilio_asked => {
                        self.ctx.timers.arm(Timer::Parked, now + ms);
                    }
                    Some(_) => {}
                    None => self.ctx.timers.disarm(&Timer::Parked),
                }
                if let (true, Some(cause)) = (from != to, cause) {
                    out.push(Command::Record(CallRecord::Transition {
                        from: from.as_str(),
                        to: to.as_str(),
                        cause,
                    }));
                    if let State::Ended { outcome } = state {
                        self.ctx.link = Link::Stopped;
                        self.ctx.timers.clear();
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

/// How long `state` may wait for Twilio, if it is a parked state.
fn parked_for(state: &State, p: &Parking) -> Option<Millis> {
    match state {
        State::AwaitingMenuChoice { .. } => Some(p.menu_ms),
        State::AwaitingRecording { .. } => Some(p.recording_ms),
        State::AwaitingDialOutcome { .. } => Some(p.dial_ring_ms),
        _ => None,
    }
}

/// The next state and, when it changed, why.
type Step = Result<(State, Option<Cause>), (State, Unexpected)>;

fn unexpected(state: State, event: &Event) -> Step {
    let u = Unexpected {
        state: state.name().as_str(),
        event: event.name(),
        expected: state.expects(),
    };
    Err((state, u))
}

fn stay(state: State) -> Step {
    Ok((state, None))
}

fn go(state: State, cause: Cause) -> Step {
    Ok((state, Some(cause)))
}

fn transition(
    state: State,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match state {
        State::AwaitingStreamAndModel => live::awaiting_stream_and_model(ctx, event, now, out),
        State::PlayingGreeting => live::playing_greeting(ctx, event, now, out),
        State::Conversing => live::conversing(ctx, event, now, out),
        State::AwaitingTools { pending } => live::awaiting_tools(pending, ctx, event, now, out),
        State::AwaitingDialOutcome { target } => {
            after_stream::awaiting_dial_outcome(target, ctx, event, now, out)
        }
        State::AwaitingRecording { department } => {
            after_stream::awaiting_recording(department, event, out)
        }
        State::AwaitingMenuChoice { attempts } => {
            after_stream::awaiting_menu_choice(attempts, ctx, event, out)
        }
        State::Ended { outcome } => after_stream::ended(outcome, ctx, event, out),
    }
}

#[cfg(test)]
mod sip_tests;
#[cfg(test)]
mod tests;
