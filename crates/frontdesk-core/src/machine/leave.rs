//! Leaving the AI conversation: for a TwiML state (transfer, voicemail,
//! menu) or for good, now or once the closing words have played.

use super::context::{Greeting, Link, StreamLink};
use super::{go, stay, Context, State, Step};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, Outcome};
use crate::decision::{Decision, MenuPrompt, Transfer};
use crate::event::Timer;
use crate::transport::{refer_target, SipCommand};

/// Marks or a finished response may complete the greeting or a pending exit.
pub(super) fn after_playback_progress(
    state: State,
    ctx: &mut Context,
    out: &mut Vec<Command>,
) -> Step {
    if ctx.pending_exit.is_some() && !ctx.model_busy() && !ctx.unplayed() {
        if let Some(d) = ctx.pending_exit.take() {
            ctx.timers.disarm(&Timer::ExitDeadline);
            return exit_with(ctx, d, out);
        }
    }
    if state == State::PlayingGreeting {
        let played_out = matches!(ctx.greeting, Greeting::Playing { .. })
            && ctx.response_active().is_none()
            && !ctx.unplayed();
        if played_out || ctx.greeting == Greeting::Over {
            ctx.greeting = Greeting::Over;
            return go(State::Conversing, Cause::GreetingPlayed);
        }
    }
    stay(state)
}

pub(super) fn exit_with(ctx: &mut Context, d: Decision, out: &mut Vec<Command>) -> Step {
    match d.clone() {
        Decision::Transfer(target) => leave_to(
            ctx,
            d,
            State::AwaitingDialOutcome { target },
            Cause::AssistantTransfer,
            out,
        ),
        Decision::Voicemail { department } => leave_to(
            ctx,
            d,
            State::AwaitingRecording { department },
            Cause::AssistantVoicemail,
            out,
        ),
        Decision::Menu { .. } => leave_to(
            ctx,
            d,
            State::AwaitingMenuChoice { attempts: 0 },
            Cause::AssistantMenu,
            out,
        ),
        Decision::Hangup { .. } | Decision::Reconnect => {
            leave(ctx, d, Outcome::Completed, Cause::AssistantEnded, out)
        }
    }
}

/// Leave the stream for a state that waits on Twilio (transfer, voicemail, menu).
pub(super) fn leave_to(
    ctx: &mut Context,
    d: Decision,
    next: State,
    cause: Cause,
    out: &mut Vec<Command>,
) -> Step {
    if ctx.sip() {
        return sip_leave_to(ctx, d, cause, out);
    }
    ctx.left_with = Some(d.clone());
    ctx.link = Link::Stopped;
    ctx.stream = StreamLink::Left;
    ctx.playback.stream_stopped();
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    out.push(Command::StopModel);
    out.push(Command::LeaveStream(d));
    go(next, cause)
}

/// Leave the stream and end the call.
pub(super) fn leave(
    ctx: &mut Context,
    d: Decision,
    outcome: Outcome,
    cause: Cause,
    out: &mut Vec<Command>,
) -> Step {
    ctx.left_with = Some(d.clone());
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    out.push(Command::StopModel);
    if ctx.sip() {
        // No stream to leave and no TwiML to say goodbye with: OpenAI
        // hangs the SIP leg up.
        out.push(Command::Sip(SipCommand::Hangup));
    } else {
        out.push(Command::LeaveStream(d));
    }
    go(State::Ended { outcome }, cause)
}

/// SIP: the call leaves the assistant by a REFER. A transfer goes to its
/// department; a voicemail or the menu (which only the Twilio path has) go
/// to the fallback number, which runs the Twilio menu, or else to the
/// operator. The refer's answer arrives as the dial outcome. With nowhere
/// to refer to, the call is hung up rather than left silent.
fn sip_leave_to(ctx: &mut Context, d: Decision, cause: Cause, out: &mut Vec<Command>) -> Step {
    let target = match &d {
        Decision::Transfer(t) => Some(t.clone()),
        _ => {
            ctx.sip_fallback_referred = true;
            sip_fallback(ctx)
        }
    };
    let Some(target) = target else {
        let hangup = Decision::Hangup {
            farewell: crate::decision::Farewell::Goodbye,
        };
        return leave(ctx, hangup, Outcome::Lost, cause, out);
    };
    let referred = Decision::Transfer(target.clone());
    ctx.left_with = Some(referred.clone());
    ctx.link = Link::Stopped;
    ctx.sip_playing = false;
    out.push(Command::Record(CallRecord::Decision(referred)));
    out.push(Command::StopModel);
    out.push(Command::Sip(SipCommand::Refer {
        target_uri: refer_target(&target.number),
    }));
    go(State::AwaitingDialOutcome { target }, cause)
}

/// SIP: where a call goes that the assistant cannot serve.
fn sip_fallback(ctx: &Context) -> Option<Transfer> {
    ctx.cfg
        .sip_fallback
        .clone()
        .or_else(|| ctx.cfg.operator.clone())
}

/// The model cannot serve the call: the DTMF/speech menu instead.
pub(super) fn to_menu(ctx: &mut Context, cause: Cause, out: &mut Vec<Command>) -> Step {
    let d = Decision::Menu {
        prompt: MenuPrompt::Welcome,
    };
    if ctx.sip() {
        return sip_leave_to(ctx, d, cause, out);
    }
    ctx.link = Link::Stopped;
    out.push(Command::StopModel);
    out.push(Command::Record(CallRecord::Decision(d.clone())));
    if ctx.stream == StreamLink::Up {
        ctx.left_with = Some(d.clone());
        ctx.stream = StreamLink::Left;
        out.push(Command::LeaveStream(d));
    }
    // Without a stream yet, the menu is announced when it starts.
    go(State::AwaitingMenuChoice { attempts: 0 }, cause)
}
