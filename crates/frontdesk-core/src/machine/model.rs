//! The model connection seen from the call: asking for responses, the
//! session becoming ready, failures within the restart budget, and the
//! planned recycle before the provider's session cap.

use super::context::{Greeting, Link, Response, StreamLink};
use super::leave::to_menu;
use super::{stay, Context, State, Step};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, ModelCommand, TwilioCommand};
use crate::event::Timer;
use crate::playback::Millis;
use crate::supervision::Verdict;

/// Ask for a response now, or as soon as the active one is done.
pub(super) fn request_response(
    ctx: &mut Context,
    instructions: Option<String>,
    now: Millis,
    out: &mut Vec<Command>,
) {
    if let Response::Active { then_another, .. } = &mut ctx.response {
        *then_another = true;
    } else {
        ask_model(ctx, ModelCommand::CreateResponse { instructions }, now, out);
    }
}

/// Sends a command that must produce a response; a model that does not
/// start one in time is treated as failed.
pub(super) fn ask_model(ctx: &mut Context, cmd: ModelCommand, now: Millis, out: &mut Vec<Command>) {
    ctx.response = Response::Requested;
    out.push(Command::Model(cmd));
    ctx.timers
        .arm(Timer::ResponseDeadline, now + ctx.cfg.response_timeout_ms);
}

pub(super) fn model_ready(
    state: State,
    ctx: &mut Context,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if ctx.link == Link::Ready {
        return stay(state); // a second session.updated (our own later update)
    }
    ctx.link = Link::Ready;
    ctx.timers.disarm(&Timer::SessionReady);
    ctx.timers.disarm(&Timer::ModelReadyDeadline);
    ctx.timers.arm(Timer::Recycle, now + ctx.cfg.session_cap_ms);
    if ctx.greeting == Greeting::NotAsked {
        ctx.greeting = Greeting::Asked;
        ask_model(ctx, ModelCommand::Greet, now, out);
        // The caller still waits: the hold message goes on until the
        // greeting plays.
        hold_while_greeting_awaited(ctx, now);
        return stay(state);
    }
    ctx.timers.disarm(&Timer::HoldMessage);
    for text in ctx.late_results.drain(..) {
        out.push(Command::Model(ModelCommand::SystemNote { text }));
    }
    let owed = ctx.transcript.caller_spoke_last()
        || ctx.response == Response::Owed
        || matches!(state, State::AwaitingTools { .. });
    if ctx.response == Response::Owed {
        ctx.response = Response::Idle;
    }
    if owed {
        ask_model(
            ctx,
            ModelCommand::CreateResponse { instructions: None },
            now,
            out,
        );
    }
    stay(state)
}

pub(super) fn model_failed(
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
    // What was asked of the dead session and never started stays owed: the
    // next session gives it (a dropped answer in progress is not replayed).
    ctx.response = match ctx.response {
        Response::Owed
        | Response::Requested
        | Response::Active {
            then_another: true, ..
        } => Response::Owed,
        _ => Response::Idle,
    };
    // The greeting is done when its audio has played, not when it was asked
    // for: one that never played is asked of the next session again.
    if matches!(ctx.greeting, Greeting::Asked | Greeting::Playing { .. }) {
        ctx.greeting = Greeting::NotAsked;
    }
    ctx.recycle_pending = false;
    out.push(Command::StopModel);
    ctx.timers.disarm(&Timer::SessionReady);
    ctx.timers.disarm(&Timer::ResponseDeadline);
    ctx.timers.disarm(&Timer::Recycle);
    // Half an answer is worse than none: the resumed model answers afresh.
    if ctx.unplayed() {
        ctx.playback.interrupt(None, now);
        if ctx.stream == StreamLink::Up {
            out.push(Command::Twilio(TwilioCommand::Clear));
        }
    }
    match ctx.budget.on_failure(now) {
        Verdict::RestartAfter(backoff) => {
            out.push(Command::Record(CallRecord::ModelRestart {
                reason,
                attempt: ctx.budget.spent(),
            }));
            ctx.timers.arm(Timer::ModelRestart, now + backoff);
            hold_soon(ctx, now);
            stay(state)
        }
        Verdict::GiveUp => to_menu(ctx, Cause::ModelUnavailable { reason }, out),
    }
}

/// A caller on the line waiting for a greeting that has not started hears
/// "one moment" after `hold_message_after_ms`, and again while it lasts.
pub(super) fn hold_while_greeting_awaited(ctx: &mut Context, now: Millis) {
    if ctx.stream == StreamLink::Up && greeting_awaited(ctx) {
        hold_soon(ctx, now);
    }
}

/// Arms the hold message `hold_message_after_ms` from now, unless one is
/// already due (a repeat in progress keeps its rhythm).
fn hold_soon(ctx: &mut Context, now: Millis) {
    if ctx.timers.deadline(&Timer::HoldMessage).is_none() {
        ctx.timers
            .arm(Timer::HoldMessage, now + ctx.cfg.hold_message_after_ms);
    }
}

/// From the start of one "one moment, please" to the next while the wait
/// lasts: the clip (`assets/one-moment.ulaw`) is 1.8 s, so the caller never
/// hears more than 1.7 s of silence between two.
pub(super) const HOLD_REPEAT_MS: Millis = 3500;

/// The caller is on the line and the greeting has not started playing.
pub(super) fn greeting_awaited(ctx: &Context) -> bool {
    matches!(ctx.greeting, Greeting::NotAsked | Greeting::Asked)
}

/// What a model that let a requested response's deadline pass failed to
/// do, for the record.
pub(super) fn missed_response(ctx: &Context) -> String {
    if ctx.greeting == Greeting::Asked {
        "the greeting did not start in time".into()
    } else if ctx.transcript.caller_spoke_last() {
        "no response to the caller's turn in time".into()
    } else {
        "a requested response did not start in time".into()
    }
}

/// A planned model restart before the provider's session cap: not a failure.
pub(super) fn recycle(ctx: &mut Context, now: Millis, out: &mut Vec<Command>) {
    ctx.link = Link::Starting;
    out.push(Command::StopModel);
    out.push(Command::StartModel {
        resume: Some(ctx.transcript.replay()),
    });
    ctx.timers
        .arm(Timer::SessionReady, now + ctx.cfg.session_ready_timeout_ms);
}
