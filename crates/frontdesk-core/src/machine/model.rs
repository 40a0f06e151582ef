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
    ctx.timers.disarm(&Timer::HoldMessage);
    ctx.timers.disarm(&Timer::ModelReadyDeadline);
    ctx.timers.arm(Timer::Recycle, now + ctx.cfg.session_cap_ms);
    if ctx.greeting == Greeting::NotAsked {
        ctx.greeting = Greeting::Asked;
        ask_model(ctx, ModelCommand::Greet, now, out);
        return stay(state);
    }
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
    // What was asked of the dead session is lost; what was owed stays owed.
    ctx.response = match ctx.response {
        Response::Owed
        | Response::Active {
            then_another: true, ..
        } => Response::Owed,
        _ => Response::Idle,
    };
    ctx.recycle_pending = false;
    out.push(Command::StopModel);
    ctx.timers.disarm(&Timer::SessionReady);
    ctx.timers.disarm(&Timer::ResponseDeadline);
    ctx.timers.disarm(&Timer::Recycle);
    // Half an answer is worse than none: the resumed model answers afresh.
    if ctx.playback.has_unplayed() {
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
            ctx.timers
                .arm(Timer::HoldMessage, now + ctx.cfg.hold_message_after_ms);
            stay(state)
        }
        Verdict::GiveUp => to_menu(ctx, Cause::ModelUnavailable { reason }, out),
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
