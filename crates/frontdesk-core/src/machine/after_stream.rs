//! The states after the stream was left for TwiML: the webhooks Twilio
//! sends next (after-stream, dial outcome, recording, menu choice) are
//! events, and the commands carry the decision the webhook answers with.

use super::context::{Link, Response};
use super::{go, stay, unexpected, Context, MachineConfig, State, Step};
use crate::cause::Cause;
use crate::command::{CallRecord, Command, Outcome};
use crate::decision::{Decision, Farewell, MenuPrompt, OnNoAnswer, Transfer};
use crate::event::{Event, Timer};
use crate::playback::Millis;

/// What DTMF/speech choices in the menu mean.
const MENU_HOURS: &str = "1";
const MENU_MESSAGE: &str = "2";
const MENU_OPERATOR: &str = "0";
/// After this many unusable menu inputs the caller is sent to voicemail.
const MENU_MAX_ATTEMPTS: u32 = 3;

pub(super) fn awaiting_dial_outcome(
    target: Transfer,
    ctx: &mut Context,
    event: Event,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::AfterStream => {
            out.push(Command::Reply(Decision::Transfer(target.clone())));
            stay(State::AwaitingDialOutcome { target })
        }
        Event::DialFinished { status } if dial_answered(&status) => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::None,
            }));
            go(
                State::Ended {
                    outcome: Outcome::Transferred,
                },
                Cause::DialFinished { status },
            )
        }
        Event::DialFinished { status } => {
            out.push(Command::Record(CallRecord::TransferFailed {
                department: target.department.clone(),
                status: status.clone(),
            }));
            if ctx.sip() {
                return sip_refer_failed(ctx, &target, status, now, out);
            }
            match target.on_no_answer {
                OnNoAnswer::Voicemail => {
                    let department = Some(target.department);
                    let d = Decision::Voicemail {
                        department: department.clone(),
                    };
                    out.push(Command::Record(CallRecord::Decision(d.clone())));
                    out.push(Command::Reply(d));
                    go(
                        State::AwaitingRecording { department },
                        Cause::DialFinished { status },
                    )
                }
                OnNoAnswer::Assistant => back_to_assistant(ctx, &target, status, now, out),
            }
        }
        other => elsewhere(State::AwaitingDialOutcome { target }, other, out),
    }
}

pub(super) fn awaiting_recording(
    department: Option<String>,
    event: Event,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::AfterStream => {
            out.push(Command::Reply(Decision::Voicemail {
                department: department.clone(),
            }));
            stay(State::AwaitingRecording { department })
        }
        Event::RecordingFinished => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::MessageTaken,
            }));
            go(
                State::Ended {
                    outcome: Outcome::Voicemail,
                },
                Cause::RecordingFinished,
            )
        }
        other => elsewhere(State::AwaitingRecording { department }, other, out),
    }
}

pub(super) fn awaiting_menu_choice(
    attempts: u32,
    ctx: &mut Context,
    event: Event,
    out: &mut Vec<Command>,
) -> Step {
    match event {
        Event::AfterStream => {
            let d = ctx.left_with.clone().unwrap_or(Decision::Menu {
                prompt: MenuPrompt::Welcome,
            });
            out.push(Command::Reply(d));
            stay(State::AwaitingMenuChoice { attempts })
        }
        // A model-gave-up menu decided before the stream existed.
        Event::StreamStarted { .. } => {
            let d = Decision::Menu {
                prompt: MenuPrompt::Welcome,
            };
            ctx.left_with = Some(d.clone());
            out.push(Command::LeaveStream(d));
            stay(State::AwaitingMenuChoice { attempts })
        }
        Event::MenuInput {
            digits,
            speech,
            operator_open,
        } => {
            let choice = read_menu_input(digits.as_deref(), speech.as_deref());
            menu_choice(attempts, ctx, choice, operator_open, out)
        }
        other => elsewhere(State::AwaitingMenuChoice { attempts }, other, out),
    }
}

pub(super) fn ended(
    outcome: Outcome,
    ctx: &mut Context,
    event: Event,
    out: &mut Vec<Command>,
) -> Step {
    let state = State::Ended { outcome };
    match event {
        Event::AfterStream => {
            let d = ctx.left_with.clone().unwrap_or(Decision::Hangup {
                farewell: Farewell::None,
            });
            out.push(Command::Reply(d));
            stay(state)
        }
        // Twilio's word that the call is over, after we ended it.
        Event::StreamStopped | Event::StreamLost | Event::Timer(_) | Event::CallEnded { .. } => {
            stay(state)
        }
        Event::Hangup { .. } | Event::Shutdown => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::Goodbye,
            }));
            stay(state)
        }
        other => unexpected(state, &other),
    }
}

/// What every after-stream state does alike.
fn elsewhere(state: State, event: Event, out: &mut Vec<Command>) -> Step {
    match event {
        // The caller is gone. A transfer that was answered reports its
        // dial outcome first (or outlived its parked deadline as
        // `transferred`), so here the caller left while it rang.
        Event::CallEnded { status } => go(
            State::Ended {
                outcome: Outcome::CallerHungUp,
            },
            Cause::CallEnded { status },
        ),
        Event::Timer(Timer::Parked) => {
            let (outcome, cause) = match state {
                State::AwaitingDialOutcome { .. } => {
                    (Outcome::Transferred, Cause::TransferPresumedAnswered)
                }
                _ => (Outcome::Gone, Cause::ParkedTooLong),
            };
            go(State::Ended { outcome }, cause)
        }
        // The stream closing is what leaving it means.
        Event::StreamStopped | Event::StreamLost => stay(state),
        Event::Hangup { reason } => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::Goodbye,
            }));
            go(
                State::Ended {
                    outcome: Outcome::Hangup,
                },
                Cause::HangupRequested { reason },
            )
        }
        Event::Shutdown => {
            out.push(Command::Reply(Decision::Hangup {
                farewell: Farewell::Goodbye,
            }));
            go(
                State::Ended {
                    outcome: Outcome::Shutdown,
                },
                Cause::Shutdown,
            )
        }
        Event::Timer(Timer::MaxDuration) => go(
            State::Ended {
                outcome: Outcome::MaxDuration,
            },
            Cause::MaxCallDuration,
        ),
        // Stale timers of the conversation are harmless after leaving it.
        Event::Timer(_) => stay(state),
        other => unexpected(state, &other),
    }
}

fn dial_answered(status: &str) -> bool {
    matches!(status, "completed" | "answered")
}

/// An unanswered transfer whose department sends callers back to the
/// assistant: a fresh stream (Twilio reconnects on the reply) and a fresh
/// model session that knows what happened.
/// SIP: OpenAI did not take the REFER (or the target never answered it).
/// There is no voicemail on this path, so the assistant takes the caller
/// back and offers a message — unless the refer was the fallback for an
/// assistant that cannot serve the call, which ends it.
fn sip_refer_failed(
    ctx: &mut Context,
    target: &Transfer,
    status: String,
    now: Millis,
    out: &mut Vec<Command>,
) -> Step {
    if ctx.sip_fallback_referred {
        out.push(Command::Sip(crate::transport::SipCommand::Hangup));
        return go(
            State::Ended {
                outcome: Outcome::Lost,
            },
            Cause::DialFinished { status },
        );
    }
    back_to_assistant(ctx, target, status, now, out)
}

fn back_to_assistant(
    ctx: &mut Context,
    target: &Transfer,
    status: String,
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
    ctx.response = Response::Owed;
    out.push(Command::StartModel {
        resume: Some(ctx.transcript.replay()),
    });
    ctx.timers
        .arm(Timer::SessionReady, now + ctx.cfg.session_ready_timeout_ms);
    ctx.timers
        .arm(Timer::StreamLost, now + ctx.cfg.stream_start_timeout_ms);
    go(State::Conversing, Cause::DialBackToAssistant { status })
}

/// What a menu input asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MenuChoice {
    Hours,
    Message,
    Operator,
    /// Nothing usable was pressed or said.
    Unclear,
}

/// Reads the caller's keypress or words in the DTMF/speech menu.
fn read_menu_input(digits: Option<&str>, speech: Option<&str>) -> MenuChoice {
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

/// Where a usable menu choice leads, and why.
fn menu_destination(
    choice: MenuChoice,
    operator: Option<&Transfer>,
    operator_open: bool,
) -> Option<(Decision, Cause)> {
    match (choice, operator) {
        // A closed department is not dialled: its voicemail instead.
        (MenuChoice::Operator, Some(op)) if !operator_open => Some((
            Decision::Voicemail {
                department: Some(op.department.clone()),
            },
            Cause::MenuOperatorClosed,
        )),
        (MenuChoice::Operator, Some(op)) => {
            Some((Decision::Transfer(op.clone()), Cause::MenuOperator))
        }
        // No operator configured: a message is the next best thing.
        (MenuChoice::Operator, None) | (MenuChoice::Message, _) => {
            Some((Decision::Voicemail { department: None }, Cause::MenuMessage))
        }
        (MenuChoice::Hours | MenuChoice::Unclear, _) => None,
    }
}

fn menu_choice(
    attempts: u32,
    ctx: &mut Context,
    choice: MenuChoice,
    operator_open: bool,
    out: &mut Vec<Command>,
) -> Step {
    if let Some((d, cause)) = menu_destination(choice, ctx.cfg.operator.as_ref(), operator_open) {
        out.push(Command::Record(CallRecord::Decision(d.clone())));
        out.push(Command::Reply(d.clone()));
        let next = match d {
            Decision::Transfer(target) => State::AwaitingDialOutcome { target },
            Decision::Voicemail { department } => State::AwaitingRecording { department },
            _ => State::AwaitingMenuChoice { attempts },
        };
        return go(next, cause);
    }
    if choice == MenuChoice::Hours {
        out.push(Command::Reply(Decision::Menu {
            prompt: MenuPrompt::Hours,
        }));
        return stay(State::AwaitingMenuChoice { attempts });
    }
    let attempts = attempts + 1;
    if attempts >= MENU_MAX_ATTEMPTS {
        out.push(Command::Reply(Decision::Voicemail { department: None }));
        return go(
            State::AwaitingRecording { department: None },
            Cause::MenuGaveUp,
        );
    }
    out.push(Command::Reply(Decision::Menu {
        prompt: MenuPrompt::Retry,
    }));
    stay(State::AwaitingMenuChoice { attempts })
}

/// The answer to a webhook for a call whose state is gone (ended and
/// released, or this instance restarted): decided from the event alone, by
/// the same rules the machine applies.
pub fn answer_without_call(cfg: &MachineConfig, event: &Event) -> Decision {
    match event {
        Event::MenuInput {
            digits,
            speech,
            operator_open,
        } => {
            let choice = read_menu_input(digits.as_deref(), speech.as_deref());
            match menu_destination(choice, cfg.operator.as_ref(), *operator_open) {
                Some((d, _)) => d,
                None if choice == MenuChoice::Hours => Decision::Menu {
                    prompt: MenuPrompt::Hours,
                },
                None => Decision::Menu {
                    prompt: MenuPrompt::Retry,
                },
            }
        }
        Event::DialFinished { status } if dial_answered(status) => Decision::Hangup {
            farewell: Farewell::None,
        },
        // Where the call was going is unknown: a message reaches someone.
        Event::DialFinished { .. } => Decision::Voicemail { department: None },
        Event::RecordingFinished => Decision::Hangup {
            farewell: Farewell::MessageTaken,
        },
        // The menu still serves the caller.
        _ => Decision::Menu {
            prompt: MenuPrompt::Welcome,
        },
    }
}
