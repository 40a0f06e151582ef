//! The AI conversation: one function per live state, each handling what
//! that state waits for and handing the rest to `common`, which holds what
//! every live state does alike (stream, playback, timers, model events).

use super::context::{Greeting, Link, Response, StreamLink};
use super::conversation::{
    barge_in, committed, deliver_tool_output, dtmf, emit_outbound, response_done, run_tool,
    silence, stream_started,
};
use super::leave::{after_playback_progress, exit_with, leave, to_menu};
use super::model::{
    greeting_awaited, missed_response, model_failed, model_ready, recycle, HOLD_REPEAT_MS,
};
use super::{go, stay, unexpected, Context, State, Step};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, Outcome};
use crate::decision::{Decision, Farewell};
use crate::event::{Event, Timer, ToolEffect};
use crate::playback::Millis;

/// A tool that overran its deadline answers the model with this.
const TOOL_TIMEOUT_OUTPUT: &str = r#"{"error":"timeout","message":"The tool did not answer in time. Apologise and offer to take a message."}"#;

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
        // Usually the stream's `stop` said so first; a lost stream never does.
        Event::CallEnded { status } => {
            out.push(Command::StopModel);
            go(
                State::Ended {
                    outcome: Outcome::CallerHungUp,
                },
                Cause::CallEnded { status },
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
        Event::Shutdown => leave(
            ctx,
            Decision::Hangup {
                farewell: Farewell::Goodbye,
            },
            Outcome::Shutdown,
            Cause::Shutdown,
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
        Event::OutputAudio { playing } => {
            ctx.sip_playing = playing;
            if playing {
                ctx.last_activity = now;
                stay(state)
            } else {
                after_playback_progress(state, ctx, out)
            }
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
            let reason = missed_response(ctx);
            model_failed(state, ctx, reason, now, out)
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
            let waiting = ctx.link != Link::Ready || greeting_awaited(ctx);
            if waiting && ctx.stream_up() && !ctx.sip() && !ctx.unplayed() {
                out.push(Command::PlayHoldMessage);
                // No silence the caller did not cause lasts past the next
                // one: the clip plays again while the wait goes on.
                ctx.timers.arm(Timer::HoldMessage, now + HOLD_REPEAT_MS);
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
            if ctx.playback.is_cancelled(&response_id) || ctx.sip() {
                // Late audio of an interrupted response; or SIP, where
                // OpenAI plays the audio itself.
                return stay(state);
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
