//! The machine on the SIP transport: scenarios for the table's "on SIP"
//! rows (driven by `every_row_of_the_machine_table_holds`) and the SIP
//! behaviours that have no row of their own.

use super::tests::{cfg, step};
use super::{Call, Row, StateName};
use crate::command::{CallRecord, Command, Outcome};
use crate::decision::{OnNoAnswer, Transfer};
use crate::event::{Event, ResponseStatus, Timer, ToolEffect};
use crate::playback::Millis;
use crate::transport::{SipCommand, Transport};
use crate::MachineConfig;

pub(super) fn sip_cfg() -> MachineConfig {
    MachineConfig {
        transport: Transport::Sip,
        sip_fallback: Some(fallback()),
        ..cfg()
    }
}

fn fallback() -> Transfer {
    Transfer {
        department: "Fallback line".into(),
        number: "+15559990000".into(),
        on_no_answer: OnNoAnswer::Voicemail,
    }
}

fn sales() -> Transfer {
    Transfer {
        department: "Sales".into(),
        number: "sip:sales@pbx.example.com".into(),
        on_no_answer: OnNoAnswer::Voicemail,
    }
}

fn audio(playing: bool) -> Event {
    Event::OutputAudio { playing }
}

fn done(id: &str) -> Event {
    Event::ResponseDone {
        response_id: id.into(),
        status: ResponseStatus::Completed,
    }
}

fn created(id: &str) -> Event {
    Event::ResponseCreated {
        response_id: id.into(),
    }
}

/// A SIP call in `name`, driven only by what the sideband socket says.
fn sip_call_in(name: StateName) -> Call {
    let (mut c, first) = Call::start(sip_cfg(), 0);
    assert_eq!(first, vec![Command::StartModel { resume: None }]);
    match name {
        StateName::Connecting => {}
        StateName::Greeting => {
            step(&mut c, Event::ModelReady, 10);
            step(&mut c, created("r1"), 15);
            step(&mut c, audio(true), 20);
        }
        StateName::Conversing => {
            c = sip_call_in(StateName::Greeting);
            step(&mut c, done("r1"), 25);
            step(&mut c, audio(false), 30);
            step(
                &mut c,
                Event::Committed {
                    item_id: "u1".into(),
                },
                40,
            );
        }
        other => panic!("no SIP set-up for {other:?}"),
    }
    assert_eq!(c.state().name(), name);
    c
}

/// A tool with `effect` answered, its announcement generated and playing.
fn tool_answered(effect: ToolEffect, name: &str) -> Call {
    let mut c = sip_call_in(StateName::Conversing);
    step(
        &mut c,
        Event::FunctionCall {
            call_id: "c9".into(),
            name: name.into(),
            arguments: "{}".into(),
        },
        100,
    );
    step(
        &mut c,
        Event::ToolFinished {
            call_id: "c9".into(),
            name: name.into(),
            output: "{}".into(),
            effect,
            latency_ms: 1,
        },
        110,
    );
    step(&mut c, created("r5"), 120);
    step(&mut c, audio(true), 125);
    step(&mut c, done("r5"), 130);
    c
}

fn budget_spent() -> Call {
    let mut c = sip_call_in(StateName::Conversing);
    for now in [100, 1000] {
        step(
            &mut c,
            Event::ModelFailed {
                reason: "closed".into(),
            },
            now,
        );
        let at = c.timer_deadline(&Timer::ModelRestart).unwrap();
        step(&mut c, Event::Timer(Timer::ModelRestart), at);
    }
    c
}

fn failed() -> Event {
    Event::ModelFailed {
        reason: "closed".into(),
    }
}

fn dial(status: &str) -> Event {
    Event::DialFinished {
        status: status.into(),
    }
}

/// The scenario for a table row that only holds on SIP.
pub(super) fn drive(row: &Row) -> Option<(Call, Event, Millis)> {
    use StateName::*;
    if !row.when.contains("on SIP") {
        return None;
    }
    Some(match (row.from, row.event, row.when) {
        (Connecting, "model ready", _) => (sip_call_in(Connecting), Event::ModelReady, 10),
        (Greeting, "output audio", _) => {
            let mut c = sip_call_in(Greeting);
            step(&mut c, done("r1"), 40);
            (c, audio(false), 900)
        }
        (Conversing, "output audio", w) if w.contains("transfer_call") => (
            tool_answered(ToolEffect::Transfer(sales()), "transfer_call"),
            audio(false),
            400,
        ),
        (Conversing, "output audio", _) => (
            tool_answered(ToolEffect::EndCall, "end_call"),
            audio(false),
            400,
        ),
        (Conversing, "timer", _) => {
            let c = sip_call_in(Conversing);
            let at = c.timer_deadline(&Timer::MaxDuration).unwrap();
            (c, Event::Timer(Timer::MaxDuration), at)
        }
        (Conversing, "model failed", _) => (budget_spent(), failed(), 5000),
        (Conversing, "call ended", _) => (
            sip_call_in(Conversing),
            Event::CallEnded {
                status: "completed".into(),
            },
            100,
        ),
        (Transferring, "dial finished", w) if w.contains("fallback") => {
            let mut c = budget_spent();
            step(&mut c, failed(), 5000);
            (c, dial("failed"), 5100)
        }
        (Transferring, "dial finished", w) => {
            let mut c = tool_answered(ToolEffect::Transfer(sales()), "transfer_call");
            step(&mut c, audio(false), 400);
            let status = if w.contains("completed") {
                "completed"
            } else {
                "failed"
            };
            (c, dial(status), 500)
        }
        _ => panic!("no SIP scenario drives the row {}", row.markdown()),
    })
}

fn sip_commands(cmds: &[Command]) -> Vec<SipCommand> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Sip(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sip_call_never_waits_for_a_stream_and_never_touches_one() {
    let c = sip_call_in(StateName::Connecting);
    assert_eq!(c.timer_deadline(&Timer::StreamStart), None);
    let mut c = sip_call_in(StateName::Greeting);
    // Audio deltas (should OpenAI send any on the sideband) are not ours to play.
    let cmds = step(
        &mut c,
        Event::AudioDelta {
            response_id: "r1".into(),
            item_id: "a1".into(),
            payload: "AAAA".into(),
        },
        21,
    );
    assert!(cmds.is_empty(), "{cmds:?}");
    // The greeting is over only once OpenAI stopped playing it.
    let cmds = step(&mut c, done("r1"), 25);
    assert_eq!(c.state().name(), StateName::Greeting, "{cmds:?}");
    step(&mut c, audio(false), 30);
    assert_eq!(c.state().name(), StateName::Conversing);
    // No hold clip: there is no stream to play it on.
    let mut c = sip_call_in(StateName::Conversing);
    step(&mut c, failed(), 100);
    let all = c.handle_timeout(100_000);
    assert!(!all.contains(&Command::PlayHoldMessage), "{all:?}");
    assert!(!all
        .iter()
        .any(|c| matches!(c, Command::LeaveStream(_) | Command::Twilio(_))));
}

#[test]
fn a_transfer_on_sip_is_a_refer_after_the_announcement_and_its_answer_ends_the_call() {
    let mut c = tool_answered(ToolEffect::Transfer(sales()), "transfer_call");
    // Generated but still playing at OpenAI: not yet.
    assert_eq!(c.state().name(), StateName::Conversing);
    let cmds = step(&mut c, audio(false), 400);
    assert_eq!(
        sip_commands(&cmds),
        vec![SipCommand::Refer {
            target_uri: "sip:sales@pbx.example.com".into()
        }]
    );
    assert!(cmds.contains(&Command::StopModel));
    assert!(!cmds.iter().any(|c| matches!(c, Command::LeaveStream(_))));
    let cmds = step(&mut c, dial("completed"), 500);
    assert!(
        cmds.contains(&Command::Finish(Outcome::Transferred)),
        "{cmds:?}"
    );
}

#[test]
fn a_failed_refer_brings_the_assistant_back_on_the_same_call() {
    let mut c = tool_answered(ToolEffect::Transfer(sales()), "transfer_call");
    step(&mut c, audio(false), 400);
    let cmds = step(&mut c, dial("failed"), 500);
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::StartModel { resume: Some(_) })));
    assert!(cmds.contains(&Command::Record(CallRecord::TransferFailed {
        department: "Sales".into(),
        status: "failed".into()
    })));
    assert_eq!(c.state().name(), StateName::Conversing);
    assert!(sip_commands(&cmds).is_empty());
}

#[test]
fn a_voicemail_on_sip_goes_to_the_fallback_number_or_the_operator() {
    let mut c = tool_answered(
        ToolEffect::Voicemail {
            department: Some("Sales".into()),
        },
        "take_voicemail",
    );
    let cmds = step(&mut c, audio(false), 400);
    assert_eq!(
        sip_commands(&cmds),
        vec![SipCommand::Refer {
            target_uri: "tel:+15559990000".into()
        }]
    );
    // Without a fallback number the operator takes such calls.
    let (mut c, _) = Call::start(
        MachineConfig {
            sip_fallback: None,
            ..sip_cfg()
        },
        0,
    );
    step(&mut c, Event::ModelReady, 10);
    for now in [100, 1000, 5000] {
        step(&mut c, failed(), now);
        if let Some(at) = c.timer_deadline(&Timer::ModelRestart) {
            step(&mut c, Event::Timer(Timer::ModelRestart), at);
        }
    }
    assert_eq!(c.state().name(), StateName::Transferring);
}

#[test]
fn past_the_budget_a_sip_call_is_referred_never_left_silent() {
    let mut c = budget_spent();
    let cmds = step(&mut c, failed(), 5000);
    assert_eq!(
        sip_commands(&cmds),
        vec![SipCommand::Refer {
            target_uri: "tel:+15559990000".into()
        }]
    );
    // And if that refer fails too, the call is hung up and closed.
    let cmds = step(&mut c, dial("failed"), 5100);
    assert_eq!(sip_commands(&cmds), vec![SipCommand::Hangup]);
    assert!(cmds.contains(&Command::Finish(Outcome::Lost)), "{cmds:?}");
    // With neither a fallback nor an operator: hung up at once.
    let (mut c, _) = Call::start(
        MachineConfig {
            sip_fallback: None,
            operator: None,
            ..sip_cfg()
        },
        0,
    );
    step(&mut c, Event::ModelReady, 10);
    let mut all = Vec::new();
    for now in [100, 1000, 5000] {
        all.extend(step(&mut c, failed(), now));
        if let Some(at) = c.timer_deadline(&Timer::ModelRestart) {
            all.extend(step(&mut c, Event::Timer(Timer::ModelRestart), at));
        }
    }
    assert_eq!(sip_commands(&all), vec![SipCommand::Hangup]);
    assert!(all.contains(&Command::Finish(Outcome::Lost)), "{all:?}");
}
