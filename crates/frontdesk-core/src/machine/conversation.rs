//! What the live states do alike with the conversation itself: the stream
//! starting, the caller's turns and keys, barge-in, tools, the model's
//! responses and their paced audio, and silence.

use super::context::{Greeting, Link, Response, StreamLink};
use super::leave::{after_playback_progress, leave, leave_to};
use super::model::{ask_model, hold_while_greeting_awaited, recycle, request_response};
use super::{stay, Context, State, Step, SILENCE_NUDGE};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, ModelCommand, Outcome, TwilioCommand};
use crate::decision::{Decision, Farewell};
use crate::event::{ResponseStatus, Timer};
use crate::playback::{Millis, Outbound};

/// How long the closing words get to play, beyond what is unplayed, when
/// their marks never come back.
const EXIT_GRACE_MS: u64 = 1500;

pub(super) fn stream_started(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
    ctx.stream = StreamLink::Up;
    ctx.last_activity = now;
    ctx.timers.disarm(&Timer::StreamStart);
    ctx.timers.disarm(&Timer::StreamLost);
    ctx.timers
        .arm(Timer::Silence, now + ctx.cfg.silence_timeout_ms);
    let sent = ctx.playback.stream_started(now);
    emit_outbound(ctx, sent, now, out);
    hold_while_greeting_awaited(ctx, now);
}

pub(super) fn committed(ctx: &mut Context, now: Millis) {
    ctx.last_activity = now;
    ctx.timers
        .arm(Timer::ResponseDeadline, now + ctx.cfg.response_timeout_ms);
}

/// The caller spoke: stop what is playing and tell the model how much of it
/// the caller heard.
pub(super) fn barge_in(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
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

pub(super) fn dtmf(
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
pub(super) fn run_tool(
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

pub(super) fn response_done(
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
    // Marks are sparse (one per ~100 ms): the end of the answer needs one of
    // its own, or its last audio is never confirmed as played.
    let sent = ctx.playback.response_done(&response_id);
    emit_outbound(ctx, sent, now, out);
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

pub(super) fn silence(
    state: State,
    ctx: &mut Context,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    let quiet_since = ctx.last_activity;
    let timeout = ctx.cfg.silence_timeout_ms;
    let busy = ctx.unplayed() || ctx.model_busy() || matches!(state, State::AwaitingTools { .. });
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
