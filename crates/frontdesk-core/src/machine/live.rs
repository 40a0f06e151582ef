//! The AI conversation: one function per live state, each handling what
//! that state waits for and handing the rest to `common`, which holds what
//! every live state does alike (stream, playback, timers, model events).

use super::context::{Greeting, Link, Response, StreamLink};
use super::leave::{after_playback_progress, exit_with, leave, leave_to, to_menu};
use super::model::{ask_model, model_failed, model_ready, recycle, request_response};
use super::{go, stay, unexpected, Context, State, Step, SILENCE_NUDGE};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, ModelCommand, Outcome, TwilioCommand};
use crate::decision::{Decision, Farewell};
use crate::event::{Event, ResponseStatus, Timer, ToolEffect};
use crate::playback::{Millis, Outbound};

/// A tool that overran its deadline answers the model with this.
const TOOL_TIMEOUT_OUTPUT: &str = r#"{"error":"timeout","message":"The tool did not answer in time. Apologise and offer to take a message."}"#;

/// How long the closing words get to play, beyond what is unplayed, when
/// their marks never come back.
const EXIT_GRACE_MS: u64 = 1500;

pub(super) fn awaiting_stream_and_model(
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    let state = State::AwaitingStreamAndModel;
    match event {
        Event::StreamStarted { .. } => {
            stream_started(ctx, now, out);
            if ctx.link == Link::Ready {
                go(State::PlayingGreeting, Cause::StreamStarted)
            } else {
                ctx.timers.arm(
                    Timer::ModelReadyDeadline,
                    now + ctx.cfg.model_ready_deadline_ms,
                );
                stay(state)
            }
        }
        Event::ModelReady => {
            let (state, _) = model_ready(state, ctx, now, out)?;
            if ctx.stream_up() {
                go(State::PlayingGreeting, Cause::ModelReady)
            } else {
                stay(state)
            }
        }
        Event::Timer(Timer::StreamStart) if ctx.stream == StreamLink::Awaited => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::Abandoned,
                },
                Cause::StreamNeverStarted,
            )
        }
        Event::Timer(Timer::ModelReadyDeadline) if ctx.link != Link::Ready => {
            to_menu(ctx, Cause::ModelNotReadyInTime, out)
        }
        e @ Event::ToolFinished { .. } => unexpected(state, &e),
        other => common(state, ctx, other, now, out),
    }
}

pub(super) fn playing_greeting(
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    let state = State::PlayingGreeting;
    match event {
        Event::SpeechStarted => {
            barge_in(ctx, now, out);
            ctx.greeting = Greeting::Over;
            go(State::Conversing, Cause::CallerSpokeOverGreeting)
        }
        Event::Committed { .. } => {
            committed(ctx, now);
            ctx.greeting = Greeting::Over;
            go(State::Conversing, Cause::CallerSpoke)
        }
        e @ Event::ToolFinished { .. } => unexpected(state, &e),
        other => common(state, ctx, other, now, out),
    }
}

pub(super) fn conversing(
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        e @ Event::ToolFinished { .. } => unexpected(State::Conversing, &e),
        other => common(State::Conversing, ctx, other, now, out),
    }
}

pub(super) fn awaiting_tools(
    mut pending: Vec<String>,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::FunctionCall {
            call_id,
            name,
            arguments,
        } => {
            if run_tool(ctx, &call_id, name, arguments, now, out) {
                pending.push(call_id);
            }
            stay(State::AwaitingTools { pending })
        }
        Event::ToolFinished {
            call_id,
            name,
            output,
            effect,
            latency_ms,
        } => {
            let Some(pos) = pending.iter().position(|c| *c == call_id) else {
                // Already answered by its deadline.
                return stay(State::AwaitingTools { pending });
            };
            pending.remove(pos);
            ctx.timers.disarm(&Timer::Tool(call_id.clone()));
            out.push(Command::Record(CallRecord::Tool {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: ctx.arguments_of(&call_id),
                output: output.clone(),
                latency_ms,
            }));
            deliver_tool_output(ctx, &call_id, &name, output, now, out);
            ctx.pending_exit = match effect {
                ToolEffect::None => ctx.pending_exit.take(),
                ToolEffect::EndCall => Some(Decision::Hangup {
                    farewell: Farewell::None,
                }),
                ToolEffect::Transfer(t) => Some(Decision::Transfer(t)),
                ToolEffect::Voicemail { department } => Some(Decision::Voicemail { department }),
            };
            if pending.is_empty() {
                go(State::Conversing, Cause::ToolFinished { name })
            } else {
                stay(State::AwaitingTools { pending })
            }
        }
        Event::Timer(Timer::Tool(call_id)) => {
            let Some(pos) = pending.iter().position(|c| *c == call_id) else {
                return stay(State::AwaitingTools { pending });
            };
            pending.remove(pos);
            let output = TOOL_TIMEOUT_OUTPUT.to_string();
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
                go(State::Conversing, Cause::ToolDeadline)
            } else {
                stay(State::AwaitingTools { pending })
            }
        }
        other => common(State::AwaitingTools { pending }, ctx, other, now, out),
    }
}

/// What every live state does alike.
fn common(
    state: State,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::StreamStarted { .. } => {
            // A reconnected stream after a drop: carry on.
            stream_started(ctx, now, out);
            stay(state)
        }
        Event::StreamStopped => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::CallerHungUp,
                },
                Cause::CallerHungUp,
            )
        }
        Event::StreamLost => {
            // Twilio will ask the Connect action what next; we answer with a
            // fresh stream. If nothing comes back, the call is gone.
            ctx.stream = StreamLink::Lost;
            ctx.playback.reset();
            ctx.timers
                .arm(Timer::StreamLost, now + ctx.cfg.stream_start_timeout_ms);
            stay(state)
        }
        Event::AfterStream => {
            out.push(Command::Reply(Decision::Reconnect));
            stay(state)
        }
        Event::Timer(Timer::StreamLost) if !ctx.stream_up() => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::Lost,
                },
                Cause::StreamLost,
            )
        }
        Event::Timer(Timer::MaxDuration) => leave(
            ctx,
            Decision::Hangup {
                farewell: Farewell::TimeLimit,
            },
            Outcome::MaxDuration,
            Cause::MaxCallDuration,
            out,
        ),
        Event::Hangup { reason } => leave(
            ctx,
            Decision::Hangup {
                farewell: Farewell::Goodbye,
            },
            Outcome::Hangup,
            Cause::HangupRequested { reason },
            out,
        ),
        Event::Dtmf {
            digit,
            operator_open,
        } => dtmf(state, ctx, digit, operator_open, now, out),
        Event::Mark { name } => {
            ctx.playback.mark_echoed(&name, now);
            after_playback_progress(state, ctx, out)
        }
        Event::Timer(Timer::Pace) => {
            let sent = ctx.playback.drain(now);
            emit_outbound(ctx, sent, now, out);
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
        Event::Timer(Timer::SessionReady) if ctx.link == Link::Starting => model_failed(
            state,
            ctx,
            "session.updated not received in time".into(),
            now,
            out,
        ),
        Event::Timer(Timer::ResponseDeadline)
            if ctx.link == Link::Ready && ctx.response_active().is_none() =>
        {
            model_failed(
                state,
                ctx,
                "no response to the caller's turn in time".into(),
                now,
                out,
            )
        }
        Event::Timer(Timer::ModelRestart) => {
            if ctx.link == Link::Down {
                ctx.link = Link::Starting;
                out.push(Command::StartModel {
                    resume: Some(ctx.transcript.replay()),
                });
                ctx.timers
                    .arm(Timer::SessionReady, now + ctx.cfg.session_ready_timeout_ms);
            }
            stay(state)
        }
        Event::Timer(Timer::HoldMessage) => {
            if ctx.link != Link::Ready && ctx.stream_up() {
                out.push(Command::PlayHoldMessage);
            }
            stay(state)
        }
        Event::Timer(Timer::Recycle) => {
            if ctx.response_active().is_none() && !matches!(state, State::AwaitingTools { .. }) {
                recycle(ctx, now, out);
            } else {
                ctx.recycle_pending = true;
            }
            stay(state)
        }
        Event::SpeechStarted => {
            barge_in(ctx, now, out);
            stay(state)
        }
        Event::Committed { .. } => {
            committed(ctx, now);
            stay(state)
        }
        Event::ResponseCreated { response_id } => {
            ctx.timers.disarm(&Timer::ResponseDeadline);
            if ctx.greeting == Greeting::Asked {
                ctx.greeting = Greeting::Playing {
                    response_id: response_id.clone(),
                };
            }
            let then_another = matches!(
                ctx.response,
                Response::Active {
                    then_another: true,
                    ..
                }
            );
            ctx.response = Response::Active {
                response_id,
                then_another,
            };
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
            emit_outbound(ctx, sent, now, out);
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
        } => response_done(state, ctx, response_id, status, now, out),
        Event::FunctionCall {
            call_id,
            name,
            arguments,
        } => {
            if !run_tool(ctx, &call_id, name, arguments, now, out) {
                return stay(state);
            }
            ctx.greeting = Greeting::Over;
            go(
                State::AwaitingTools {
                    pending: vec![call_id],
                },
                Cause::FunctionCall,
            )
        }
        // A timer of something already over (e.g. StreamLost after a reconnect).
        Event::Timer(_) => stay(state),
        other @ (Event::MenuInput { .. }
        | Event::DialFinished { .. }
        | Event::RecordingFinished
        | Event::ToolFinished { .. }) => unexpected(state, &other),
    }
}

fn stream_started(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
    ctx.stream = StreamLink::Up;
    ctx.last_activity = now;
    ctx.timers.disarm(&Timer::StreamStart);
    ctx.timers.disarm(&Timer::StreamLost);
    ctx.timers
        .arm(Timer::Silence, now + ctx.cfg.silence_timeout_ms);
    let sent = ctx.playback.stream_started(now);
    emit_outbound(ctx, sent, now, out);
}

fn committed(ctx: &mut Context, now: Millis) {
    ctx.last_activity = now;
    ctx.timers
        .arm(Timer::ResponseDeadline, now + ctx.cfg.response_timeout_ms);
}

/// The caller spoke: stop what is playing and tell the model how much of it
/// the caller heard.
fn barge_in(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
    ctx.last_activity = now;
    ctx.silence_nudged = false;
    let active = match &ctx.response {
        Response::Active { response_id, .. } => Some(response_id.as_str()),
        _ => None,
    };
    let cut = ctx.playback.interrupt(active, now);
    if cut.clear {
        out.push(Command::Twilio(TwilioCommand::Clear));
        ctx.timers.disarm(&Timer::Pace);
    }
    if let Some(t) = cut.truncate {
        ctx.transcript.truncated(&t.item_id, t.heard_fraction);
        out.push(Command::Model(ModelCommand::Truncate {
            item_id: t.item_id,
            audio_end_ms: t.audio_end_ms,
        }));
    }
}

fn dtmf(
    state: State,
    ctx: &mut Context,
    digit: char,
    operator_open: bool,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
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
                    State::AwaitingRecording { department },
                    Cause::OperatorKeyClosed,
                    out,
                )
            }
            Some(op) => leave_to(
                ctx,
                Decision::Transfer(op.clone()),
                State::AwaitingDialOutcome { target: op },
                Cause::OperatorKey,
                out,
            ),
            None => leave_to(
                ctx,
                Decision::Voicemail { department: None },
                State::AwaitingRecording { department: None },
                Cause::OperatorKey,
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

/// Starts a tool unless this call id already runs (a function call is also
/// listed in `response.done`). Returns whether it started.
fn run_tool(
    ctx: &mut Context,
    call_id: &str,
    name: String,
    arguments: String,
    now: Millis,
    out: &mut Vec<Command>,
) -> bool {
    if ctx.tool_calls.iter().any(|(c, _, _)| c == call_id) {
        return false;
    }
    ctx.tool_calls
        .push((call_id.to_string(), name.clone(), arguments.clone()));
    out.push(Command::RunTool {
        call_id: call_id.to_string(),
        name,
        arguments,
    });
    ctx.timers.arm(
        Timer::Tool(call_id.to_string()),
        now + ctx.cfg.tool_timeout_ms,
    );
    true
}

fn response_done(
    state: State,
    ctx: &mut Context,
    response_id: String,
    status: ResponseStatus,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if status == ResponseStatus::Failed {
        out.push(Command::Record(CallRecord::ModelError {
            code: Some("response_failed".into()),
            message: format!("response {response_id} failed"),
        }));
    }
    if matches!(&ctx.greeting, Greeting::Playing { response_id: g } if *g == response_id)
        && status != ResponseStatus::Completed
    {
        ctx.greeting = Greeting::Over;
    }
    if let Response::Active {
        response_id: active,
        then_another,
    } = &ctx.response
    {
        if *active == response_id {
            ctx.response = if *then_another {
                Response::Owed
            } else {
                Response::Idle
            };
        }
    }
    if ctx.response == Response::Owed && ctx.link == Link::Ready {
        ask_model(
            ctx,
            ModelCommand::CreateResponse { instructions: None },
            now,
            out,
        );
    }
    if ctx.recycle_pending
        && !matches!(state, State::AwaitingTools { .. })
        && ctx.response_active().is_none()
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
        ctx.timers
            .arm(Timer::ExitDeadline, now + left + EXIT_GRACE_MS);
    }
    after_playback_progress(state, ctx, out)
}

pub(super) fn deliver_tool_output(
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

pub(super) fn emit_outbound(
    ctx: &mut Context,
    sent: Vec<Outbound>,
    now: Millis,
    out: &mut Vec<Command>,
) {
    for o in sent {
        out.push(Command::Twilio(match o {
            Outbound::Media(p) => TwilioCommand::Media(p),
            Outbound::Mark(m) => TwilioCommand::Mark(m),
        }));
    }
    if let Some(at) = ctx.playback.next_drain_at() {
        // `drain` releases only while strictly less than the lead is
        // buffered, so at `next_drain_at` itself nothing would go out: wake a
        // millisecond later, and never at a time already passed (the timer
        // would fire again at once, forever).
        ctx.timers.arm(Timer::Pace, at.max(now) + 1);
    }
}

fn silence(state: State, ctx: &mut Context, now: Millis, out: &mut Vec<Command>) -> Step {
    let quiet_since = ctx.last_activity;
    let timeout = ctx.cfg.silence_timeout_ms;
    let busy = ctx.playback.has_unplayed()
        || ctx.model_busy()
        || matches!(state, State::AwaitingTools { .. });
    if busy || now.saturating_sub(quiet_since) < timeout {
        let at = if busy {
            now + timeout
        } else {
            quiet_since + timeout
        };
        ctx.timers.arm(Timer::Silence, at);
        return stay(state);
    }
    if !ctx.silence_nudged && ctx.link == Link::Ready {
        ctx.silence_nudged = true;
        ctx.last_activity = now;
        request_response(ctx, Some(SILENCE_NUDGE.to_string()), now, out);
        ctx.timers.arm(Timer::Silence, now + timeout);
        return stay(state);
    }
    leave(
        ctx,
        Decision::Hangup {
            farewell: Farewell::NoResponse,
        },
        Outcome::Silence,
        Cause::CallerSilent,
        out,
    )
}
