//! Table-style tests of the call state machine, mirrored by
//! `docs/call-state-machine.md`. Every transition of the table has a row;
//! every (state, event) pair a state does not handle has a row too.

use super::*;
use crate::command::{ModelCommand, TwilioCommand};
use crate::decision::{Decision, Farewell, MenuPrompt, OnNoAnswer};
use crate::event::{ResponseStatus, ToolEffect};
use crate::supervision::Budget;
use crate::transcript::Speaker;
use base64::Engine;

pub(super) fn cfg() -> MachineConfig {
    MachineConfig {
        pacing_lead_ms: 200,
        barge_in_margin_ms: 0,
        hold_message_after_ms: 1200,
        tool_timeout_ms: 5000,
        silence_timeout_ms: 20_000,
        max_call_ms: 1_800_000,
        stream_start_timeout_ms: 15_000,
        model_ready_deadline_ms: 4000,
        session_ready_timeout_ms: 5000,
        response_timeout_ms: 8000,
        session_cap_ms: 3_300_000,
        budget: Budget {
            restarts: 2,
            window_ms: 30_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 2000,
        },
        operator: Some(Transfer {
            department: "Front desk".into(),
            number: "+15551230100".into(),
            on_no_answer: OnNoAnswer::Voicemail,
        }),
        parking: Parking {
            menu_ms: 60_000,
            recording_ms: 155_000,
            dial_ring_ms: 50_000,
        },
        transport: crate::Transport::Twilio,
        sip_fallback: None,
    }
}

fn audio(ms: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![0x7Fu8; (ms * 8) as usize])
}

pub(super) fn step(c: &mut Call, e: Event, now: Millis) -> Vec<Command> {
    c.step(e, now).unwrap_or_else(|u| panic!("{u}"))
}

fn stream() -> Event {
    Event::StreamStarted {
        stream_sid: "MZ1".into(),
    }
}

fn delta(resp: &str, item: &str, ms: u64) -> Event {
    Event::AudioDelta {
        response_id: resp.into(),
        item_id: item.into(),
        payload: audio(ms),
    }
}

/// Drives a fresh call into the named state through real events.
fn call_in(name: StateName) -> Call {
    let (mut c, _) = Call::start(cfg(), 0);
    match name {
        StateName::Connecting => {}
        StateName::Greeting => {
            step(&mut c, Event::ModelReady, 10);
            step(
                &mut c,
                Event::ResponseCreated {
                    response_id: "r1".into(),
                },
                15,
            );
            step(&mut c, stream(), 20);
        }
        StateName::Conversing => {
            c = call_in(StateName::Greeting);
            // The greeting (no audio in these tests) is over.
            step(
                &mut c,
                Event::ResponseDone {
                    response_id: "r1".into(),
                    status: ResponseStatus::Completed,
                },
                25,
            );
            step(
                &mut c,
                Event::Committed {
                    item_id: "u1".into(),
                },
                30,
            );
        }
        StateName::ToolWait => {
            c = call_in(StateName::Conversing);
            step(
                &mut c,
                Event::ResponseCreated {
                    response_id: "r2".into(),
                },
                40,
            );
            step(
                &mut c,
                Event::FunctionCall {
                    call_id: "c1".into(),
                    name: "get_business_hours".into(),
                    arguments: "{}".into(),
                },
                50,
            );
        }
        StateName::Transferring => {
            c = call_in(StateName::Conversing);
            step(
                &mut c,
                Event::Dtmf {
                    digit: '0',
                    operator_open: true,
                },
                60,
            );
        }
        StateName::Voicemail => {
            c = call_in(StateName::Transferring);
            step(
                &mut c,
                Event::DialFinished {
                    status: "busy".into(),
                },
                70,
            );
        }
        StateName::Menu => {
            step(&mut c, stream(), 10);
            step(&mut c, Event::Timer(Timer::ModelReadyDeadline), 4010);
        }
        StateName::Ended => {
            c = call_in(StateName::Conversing);
            step(&mut c, Event::StreamStopped, 80);
        }
    }
    assert_eq!(c.state().name(), name, "setup reached the wrong state");
    c
}

fn has(cmds: &[Command], want: &Command) -> bool {
    cmds.contains(want)
}

fn left_with(cmds: &[Command]) -> Option<&Decision> {
    cmds.iter().find_map(|c| match c {
        Command::LeaveStream(d) => Some(d),
        _ => None,
    })
}

fn replied(cmds: &[Command]) -> Option<&Decision> {
    cmds.iter().find_map(|c| match c {
        Command::Reply(d) => Some(d),
        _ => None,
    })
}

fn op() -> Transfer {
    Transfer {
        department: "Front desk".into(),
        number: "+15551230100".into(),
        on_no_answer: OnNoAnswer::Voicemail,
    }
}

/// (from, event, to, a command that must be among the results)
type ExampleRow = (StateName, Event, StateName, Option<Command>);

fn transition_table() -> Vec<ExampleRow> {
    use StateName::*;
    vec![
        (
            Conversing,
            Event::Dtmf {
                digit: '0',
                operator_open: false,
            },
            Voicemail,
            Some(Command::LeaveStream(Decision::Voicemail {
                department: Some("Front desk".into()),
            })),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: Some("0".into()),
                speech: None,
                operator_open: false,
            },
            Voicemail,
            Some(Command::Reply(Decision::Voicemail {
                department: Some("Front desk".into()),
            })),
        ),
        (
            Connecting,
            Event::ModelReady,
            Connecting,
            Some(Command::Model(ModelCommand::Greet)),
        ),
        (
            Connecting,
            Event::Timer(Timer::StreamStart),
            Ended,
            Some(Command::Finish(Outcome::Abandoned)),
        ),
        (
            Connecting,
            Event::StreamStopped,
            Ended,
            Some(Command::StopModel),
        ),
        (Greeting, Event::SpeechStarted, Conversing, None),
        (
            Greeting,
            Event::Committed {
                item_id: "u1".into(),
            },
            Conversing,
            None,
        ),
        (
            Conversing,
            Event::FunctionCall {
                call_id: "c9".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            },
            ToolWait,
            Some(Command::RunTool {
                call_id: "c9".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            }),
        ),
        (
            ToolWait,
            Event::ToolFinished {
                call_id: "c1".into(),
                name: "get_business_hours".into(),
                output: "{\"open\":true}".into(),
                effect: ToolEffect::None,
                latency_ms: 3,
            },
            Conversing,
            Some(Command::Model(ModelCommand::FunctionOutput {
                call_id: "c1".into(),
                output: "{\"open\":true}".into(),
            })),
        ),
        (
            ToolWait,
            Event::Timer(Timer::Tool("c1".into())),
            Conversing,
            None,
        ),
        (
            Conversing,
            Event::Dtmf {
                digit: '0',
                operator_open: true,
            },
            Transferring,
            Some(Command::LeaveStream(Decision::Transfer(op()))),
        ),
        (
            Greeting,
            Event::Dtmf {
                digit: '0',
                operator_open: true,
            },
            Transferring,
            Some(Command::LeaveStream(Decision::Transfer(op()))),
        ),
        (
            Conversing,
            Event::StreamStopped,
            Ended,
            Some(Command::Finish(Outcome::CallerHungUp)),
        ),
        (
            Conversing,
            Event::Timer(Timer::MaxDuration),
            Ended,
            Some(Command::LeaveStream(Decision::Hangup {
                farewell: Farewell::TimeLimit,
            })),
        ),
        (
            Conversing,
            Event::Hangup {
                reason: "operator".into(),
            },
            Ended,
            Some(Command::Finish(Outcome::Hangup)),
        ),
        (
            Conversing,
            Event::AfterStream,
            Conversing,
            Some(Command::Reply(Decision::Reconnect)),
        ),
        (
            Transferring,
            Event::AfterStream,
            Transferring,
            Some(Command::Reply(Decision::Transfer(op()))),
        ),
        (
            Transferring,
            Event::DialFinished {
                status: "completed".into(),
            },
            Ended,
            Some(Command::Finish(Outcome::Transferred)),
        ),
        (
            Transferring,
            Event::DialFinished {
                status: "no-answer".into(),
            },
            Voicemail,
            Some(Command::Reply(Decision::Voicemail {
                department: Some("Front desk".into()),
            })),
        ),
        (
            Transferring,
            Event::DialFinished {
                status: "failed".into(),
            },
            Voicemail,
            None,
        ),
        (
            Voicemail,
            Event::RecordingFinished,
            Ended,
            Some(Command::Reply(Decision::Hangup {
                farewell: Farewell::MessageTaken,
            })),
        ),
        (Voicemail, Event::AfterStream, Voicemail, None),
        (
            Menu,
            Event::AfterStream,
            Menu,
            Some(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Welcome,
            })),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: Some("1".into()),
                speech: None,
                operator_open: true,
            },
            Menu,
            Some(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Hours,
            })),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: None,
                speech: Some("What are your hours?".into()),
                operator_open: true,
            },
            Menu,
            Some(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Hours,
            })),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: Some("2".into()),
                speech: None,
                operator_open: true,
            },
            Voicemail,
            Some(Command::Reply(Decision::Voicemail { department: None })),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: Some("0".into()),
                speech: None,
                operator_open: true,
            },
            Transferring,
            Some(Command::Reply(Decision::Transfer(op()))),
        ),
        (
            Menu,
            Event::MenuInput {
                digits: None,
                speech: Some("a real person please".into()),
                operator_open: true,
            },
            Transferring,
            None,
        ),
        (
            Menu,
            Event::MenuInput {
                digits: Some("7".into()),
                speech: None,
                operator_open: true,
            },
            Menu,
            Some(Command::Reply(Decision::Menu {
                prompt: MenuPrompt::Retry,
            })),
        ),
        (Ended, Event::AfterStream, Ended, None),
        (Ended, Event::StreamStopped, Ended, None),
    ]
}

#[test]
fn every_transition_of_the_table() {
    for (i, (from, event, to, must)) in transition_table().into_iter().enumerate() {
        let mut c = call_in(from);
        let label = format!("row {i}: {from:?} --{}--> {to:?}", event.name());
        let cmds = c
            .step(event, 100_000)
            .unwrap_or_else(|u| panic!("{label}: {u}"));
        assert_eq!(c.state().name(), to, "{label}: {cmds:?}");
        if let Some(want) = must {
            assert!(has(&cmds, &want), "{label}: missing {want:?} in {cmds:?}");
        }
        if from != to {
            assert!(
                cmds.iter()
                    .any(|c| matches!(c, Command::Record(CallRecord::Transition { .. }))),
                "{label}: transition not recorded"
            );
        }
    }
}

#[test]
fn every_unexpected_pair_is_a_typed_error() {
    use StateName::*;
    let menu = || Event::MenuInput {
        digits: Some("1".into()),
        speech: None,
        operator_open: true,
    };
    let dial = || Event::DialFinished {
        status: "completed".into(),
    };
    let tool = || Event::ToolFinished {
        call_id: "c1".into(),
        name: "x".into(),
        output: "{}".into(),
        effect: ToolEffect::None,
        latency_ms: 1,
    };
    let model_events = || {
        vec![
            Event::ModelReady,
            Event::SpeechStarted,
            Event::Committed {
                item_id: "u".into(),
            },
            delta("r", "i", 20),
            Event::FunctionCall {
                call_id: "z".into(),
                name: "x".into(),
                arguments: "{}".into(),
            },
            Event::ResponseDone {
                response_id: "r".into(),
                status: ResponseStatus::Completed,
            },
            Event::Dtmf {
                digit: '5',
                operator_open: true,
            },
            Event::Mark {
                name: "1:20".into(),
            },
            Event::CallerVoice { speaking: true },
            stream(),
        ]
    };
    let mut rows: Vec<(StateName, Event)> = Vec::new();
    for s in [Connecting, Greeting, Conversing, ToolWait] {
        rows.push((s, menu()));
        rows.push((s, dial()));
        rows.push((s, Event::RecordingFinished));
    }
    for s in [Connecting, Greeting, Conversing] {
        rows.push((s, tool()));
    }
    for s in [Transferring, Voicemail, Menu, Ended] {
        for e in model_events() {
            if s == Menu && matches!(e, Event::StreamStarted { .. }) {
                continue; // the menu announced once the stream exists
            }
            rows.push((s, e));
        }
        rows.push((s, tool()));
    }
    for s in [Transferring, Voicemail, Ended] {
        rows.push((s, menu()));
    }
    for s in [Voicemail, Menu, Ended] {
        rows.push((s, dial()));
    }
    for s in [Transferring, Menu, Ended] {
        rows.push((s, Event::RecordingFinished));
    }
    for (from, event) in rows {
        let mut c = call_in(from);
        let before = c.state().clone();
        let name = event.name();
        let err = c
            .step(event, 50_000)
            .expect_err(&format!("{from:?} accepted {name}"));
        assert_eq!(err.state, from.as_str());
        assert_eq!(err.event, name);
        assert_eq!(err.expected, before.expects());
        assert_eq!(c.state(), &before, "state changed on an unexpected {name}");
    }
}

#[test]
fn pre_warmed_greeting_waits_for_the_stream_then_plays_at_once() {
    let (mut c, first) = Call::start(cfg(), 0);
    assert!(has(&first, &Command::StartModel { resume: None }));
    assert!(has(
        &step(&mut c, Event::ModelReady, 5),
        &Command::Model(ModelCommand::Greet)
    ));
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r1".into(),
        },
        6,
    );
    // Audio before the stream exists is held, not lost.
    assert!(step(&mut c, delta("r1", "a1", 100), 7)
        .iter()
        .all(|c| !matches!(c, Command::Twilio(_))));
    let cmds = step(&mut c, stream(), 50);
    assert_eq!(c.state().name(), StateName::Greeting);
    assert!(has(
        &cmds,
        &Command::Twilio(TwilioCommand::Media(audio(100)))
    ));
    assert!(has(
        &cmds,
        &Command::Twilio(TwilioCommand::Mark("1:100".into()))
    ));
    // Played out: the greeting is over.
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r1".into(),
            status: ResponseStatus::Completed,
        },
        60,
    );
    assert_eq!(c.state().name(), StateName::Greeting);
    step(
        &mut c,
        Event::Mark {
            name: "1:100".into(),
        },
        150,
    );
    assert_eq!(c.state().name(), StateName::Conversing);
}

#[test]
fn stream_first_then_model_greets_on_ready() {
    let (mut c, _) = Call::start(cfg(), 0);
    step(&mut c, stream(), 5);
    assert_eq!(c.timer_deadline(&Timer::ModelReadyDeadline), Some(4005));
    let cmds = step(&mut c, Event::ModelReady, 30);
    assert_eq!(c.state().name(), StateName::Greeting);
    assert!(has(&cmds, &Command::Model(ModelCommand::Greet)));
}

#[test]
fn barge_in_clears_truncates_and_drops_late_audio() {
    let mut c = call_in(StateName::Conversing);
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r2".into(),
        },
        1000,
    );
    for _ in 0..5 {
        step(&mut c, delta("r2", "a2", 100), 1000);
    }
    step(
        &mut c,
        Event::Mark {
            name: "1:100".into(),
        },
        1100,
    );
    let cmds = step(&mut c, Event::SpeechStarted, 1130);
    let clear = cmds
        .iter()
        .position(|c| *c == Command::Twilio(TwilioCommand::Clear));
    let trunc = cmds
        .iter()
        .position(|c| matches!(c, Command::Model(ModelCommand::Truncate { .. })));
    assert!(
        clear.is_some() && trunc.is_some() && clear < trunc,
        "{cmds:?}"
    );
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::Truncate {
            item_id: "a2".into(),
            audio_end_ms: 130
        })
    ));
    // Late audio of the cancelled response is dropped.
    let late = step(&mut c, delta("r2", "a2", 100), 1160);
    assert!(late.iter().all(|c| !matches!(c, Command::Twilio(_))));
    // Echoes of cleared marks are not "played".
    step(
        &mut c,
        Event::Mark {
            name: "1:200".into(),
        },
        1170,
    );
    assert!(!c.ctx.playback.has_unplayed());
    // The next response plays normally, with a new generation.
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Cancelled,
        },
        1180,
    );
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r3".into(),
        },
        1200,
    );
    let cmds = step(&mut c, delta("r3", "a3", 100), 1210);
    assert!(has(
        &cmds,
        &Command::Twilio(TwilioCommand::Mark("2:100".into()))
    ));
}

#[test]
fn barge_in_with_nothing_played_skips_the_truncate() {
    let mut c = call_in(StateName::Conversing);
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r2".into(),
        },
        1000,
    );
    step(&mut c, delta("r2", "a2", 100), 1000);
    let cmds = step(&mut c, Event::SpeechStarted, 1010);
    assert!(has(&cmds, &Command::Twilio(TwilioCommand::Clear)));
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Command::Model(ModelCommand::Truncate { .. }))));
}

#[test]
fn tool_result_waits_for_the_active_response_before_response_create() {
    let mut c = call_in(StateName::ToolWait);
    let cmds = step(
        &mut c,
        Event::ToolFinished {
            call_id: "c1".into(),
            name: "get_business_hours".into(),
            output: "{}".into(),
            effect: ToolEffect::None,
            latency_ms: 2,
        },
        100,
    );
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::FunctionOutput {
            call_id: "c1".into(),
            output: "{}".into()
        })
    ));
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Command::Model(ModelCommand::CreateResponse { .. }))));
    let cmds = step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Completed,
        },
        110,
    );
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::CreateResponse { instructions: None })
    ));
}

#[test]
fn tool_call_listed_again_in_response_done_runs_once() {
    let mut c = call_in(StateName::ToolWait);
    let cmds = step(
        &mut c,
        Event::FunctionCall {
            call_id: "c1".into(),
            name: "get_business_hours".into(),
            arguments: "{}".into(),
        },
        60,
    );
    assert!(!cmds.iter().any(|c| matches!(c, Command::RunTool { .. })));
}

#[test]
fn end_call_leaves_after_the_goodbye_has_played() {
    let mut c = call_in(StateName::ToolWait);
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Completed,
        },
        60,
    );
    step(
        &mut c,
        Event::ToolFinished {
            call_id: "c1".into(),
            name: "end_call".into(),
            output: "{}".into(),
            effect: ToolEffect::EndCall,
            latency_ms: 1,
        },
        70,
    );
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r3".into(),
        },
        80,
    );
    step(&mut c, delta("r3", "bye", 100), 90);
    let cmds = step(
        &mut c,
        Event::ResponseDone {
            response_id: "r3".into(),
            status: ResponseStatus::Completed,
        },
        100,
    );
    assert!(left_with(&cmds).is_none(), "left before the goodbye played");
    assert_eq!(c.state().name(), StateName::Conversing);
    let cmds = step(
        &mut c,
        Event::Mark {
            name: "1:100".into(),
        },
        200,
    );
    assert_eq!(
        left_with(&cmds),
        Some(&Decision::Hangup {
            farewell: Farewell::None
        })
    );
    assert_eq!(
        c.state(),
        &State::Ended {
            outcome: Outcome::Completed
        }
    );
    assert_eq!(
        replied(&step(&mut c, Event::AfterStream, 300)),
        Some(&Decision::Hangup {
            farewell: Farewell::None
        })
    );
}

#[test]
fn end_call_leaves_by_deadline_when_marks_never_come() {
    let mut c = call_in(StateName::ToolWait);
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Completed,
        },
        60,
    );
    step(
        &mut c,
        Event::ToolFinished {
            call_id: "c1".into(),
            name: "end_call".into(),
            output: "{}".into(),
            effect: ToolEffect::EndCall,
            latency_ms: 1,
        },
        70,
    );
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r3".into(),
        },
        80,
    );
    step(&mut c, delta("r3", "bye", 100), 90);
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r3".into(),
            status: ResponseStatus::Completed,
        },
        100,
    );
    assert_eq!(
        c.timer_deadline(&Timer::ExitDeadline),
        Some(100 + 100 + 1500)
    );
    let cmds = step(&mut c, Event::Timer(Timer::ExitDeadline), 1700);
    assert!(left_with(&cmds).is_some());
}

#[test]
fn model_failure_restarts_with_backoff_and_resumes_with_the_transcript() {
    let mut c = call_in(StateName::Conversing);
    step(
        &mut c,
        Event::Transcript {
            speaker: Speaker::Caller,
            item_id: "u1".into(),
            text: "Are you open Friday?".into(),
        },
        100,
    );
    let cmds = step(
        &mut c,
        Event::ModelFailed {
            reason: "socket closed".into(),
        },
        200,
    );
    assert!(has(&cmds, &Command::StopModel));
    assert_eq!(c.timer_deadline(&Timer::ModelRestart), Some(300));
    assert_eq!(c.timer_deadline(&Timer::HoldMessage), Some(1400));
    assert!(!c.forwards_caller_audio());
    let cmds = step(&mut c, Event::Timer(Timer::ModelRestart), 300);
    let resume = cmds.iter().find_map(|c| match c {
        Command::StartModel { resume: Some(t) } => Some(t.clone()),
        _ => None,
    });
    assert_eq!(resume.unwrap()[0].text, "Are you open Friday?");
    // Back within the hold threshold: no "one moment".
    let cmds = step(&mut c, Event::ModelReady, 500);
    assert_eq!(c.timer_deadline(&Timer::HoldMessage), None);
    // The caller spoke last, so the resumed model answers.
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::CreateResponse { instructions: None })
    ));
    assert!(!cmds.contains(&Command::Model(ModelCommand::Greet)));
    assert!(c.forwards_caller_audio());
    assert_eq!(c.state().name(), StateName::Conversing);
}

#[test]
fn a_long_gap_plays_the_hold_message() {
    let mut c = call_in(StateName::Conversing);
    step(&mut c, Event::ModelFailed { reason: "x".into() }, 100);
    assert!(has(
        &step(&mut c, Event::Timer(Timer::HoldMessage), 1300),
        &Command::PlayHoldMessage
    ));
}

#[test]
fn past_the_restart_budget_the_call_goes_to_the_menu() {
    let mut c = call_in(StateName::Conversing);
    for t in [100, 400, 700] {
        let cmds = step(
            &mut c,
            Event::ModelFailed {
                reason: "refused".into(),
            },
            t,
        );
        if t < 700 {
            step(&mut c, Event::Timer(Timer::ModelRestart), t + 200);
        } else {
            assert_eq!(
                left_with(&cmds),
                Some(&Decision::Menu {
                    prompt: MenuPrompt::Welcome
                })
            );
        }
    }
    assert_eq!(c.state().name(), StateName::Menu);
    let cmds = step(&mut c, Event::AfterStream, 800);
    assert_eq!(
        replied(&cmds),
        Some(&Decision::Menu {
            prompt: MenuPrompt::Welcome
        })
    );
}

#[test]
fn silent_model_deadlines_count_as_failures() {
    let (mut c, _) = Call::start(cfg(), 0);
    step(&mut c, Event::Timer(Timer::SessionReady), 5000);
    assert_eq!(c.timer_deadline(&Timer::ModelRestart), Some(5100));
    let mut c = call_in(StateName::Conversing);
    let cmds = step(&mut c, Event::Timer(Timer::ResponseDeadline), 8030);
    assert!(has(&cmds, &Command::StopModel));
}

#[test]
fn model_gone_before_the_stream_means_menu_when_it_starts() {
    let (mut c, _) = Call::start(cfg(), 0);
    for t in [10, 200, 600] {
        step(
            &mut c,
            Event::ModelFailed {
                reason: "refused".into(),
            },
            t,
        );
        step(&mut c, Event::Timer(Timer::ModelRestart), t + 150);
    }
    assert_eq!(c.state().name(), StateName::Menu);
    let cmds = step(&mut c, stream(), 700);
    assert_eq!(
        left_with(&cmds),
        Some(&Decision::Menu {
            prompt: MenuPrompt::Welcome
        })
    );
}

#[test]
fn silence_nudges_once_then_says_goodbye() {
    let mut c = call_in(StateName::Conversing);
    let cmds = step(&mut c, Event::Timer(Timer::Silence), 20_030);
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::CreateResponse {
            instructions: Some(SILENCE_NUDGE.into())
        })
    ));
    // The model asks "are you still there?"; nobody answers.
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r9".into(),
        },
        20_100,
    );
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r9".into(),
            status: ResponseStatus::Completed,
        },
        22_000,
    );
    let cmds = step(&mut c, Event::Timer(Timer::Silence), 40_030);
    assert_eq!(
        left_with(&cmds),
        Some(&Decision::Hangup {
            farewell: Farewell::NoResponse
        })
    );
    assert_eq!(
        c.state(),
        &State::Ended {
            outcome: Outcome::Silence
        }
    );
}

#[test]
fn caller_activity_postpones_the_silence_timer() {
    let mut c = call_in(StateName::Conversing);
    step(&mut c, Event::CallerVoice { speaking: true }, 15_000);
    step(&mut c, Event::Timer(Timer::Silence), 20_030);
    assert_eq!(c.timer_deadline(&Timer::Silence), Some(35_000));
}

#[test]
fn recycle_waits_for_a_quiet_moment() {
    let mut c = call_in(StateName::Conversing);
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r2".into(),
        },
        100,
    );
    let cmds = step(&mut c, Event::Timer(Timer::Recycle), 200);
    assert!(!cmds.iter().any(|c| matches!(c, Command::StartModel { .. })));
    let cmds = step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Completed,
        },
        300,
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::StartModel { resume: Some(_) })));
    // A planned recycle spends no restart budget.
    assert_eq!(c.ctx.budget.spent(), 0);
}

#[test]
fn other_digits_are_told_to_the_model() {
    let mut c = call_in(StateName::Conversing);
    let cmds = step(
        &mut c,
        Event::Dtmf {
            digit: '3',
            operator_open: true,
        },
        100,
    );
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::SystemNote {
            text: "The caller pressed 3 on the keypad.".into()
        })
    ));
}

#[test]
fn a_dropped_stream_is_reconnected_or_given_up() {
    let mut c = call_in(StateName::Conversing);
    step(&mut c, Event::StreamLost, 100);
    assert_eq!(
        replied(&step(&mut c, Event::AfterStream, 150)),
        Some(&Decision::Reconnect)
    );
    step(&mut c, stream(), 300);
    assert_eq!(c.state().name(), StateName::Conversing);
    step(&mut c, Event::StreamLost, 400);
    step(&mut c, Event::Timer(Timer::StreamLost), 15_400);
    assert_eq!(
        c.state(),
        &State::Ended {
            outcome: Outcome::Lost
        }
    );
}

#[test]
fn menu_gives_up_to_voicemail_after_repeated_nonsense() {
    let mut c = call_in(StateName::Menu);
    for _ in 0..2 {
        step(
            &mut c,
            Event::MenuInput {
                digits: Some("9".into()),
                speech: None,
                operator_open: true,
            },
            100,
        );
        assert_eq!(c.state().name(), StateName::Menu);
    }
    step(
        &mut c,
        Event::MenuInput {
            digits: None,
            speech: None,
            operator_open: true,
        },
        200,
    );
    assert_eq!(c.state().name(), StateName::Voicemail);
}

#[test]
fn transcripts_are_recorded_and_cut_after_barge_in() {
    let mut c = call_in(StateName::Conversing);
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r2".into(),
        },
        100,
    );
    for _ in 0..4 {
        step(&mut c, delta("r2", "a2", 100), 100);
    }
    step(
        &mut c,
        Event::Mark {
            name: "1:100".into(),
        },
        200,
    );
    step(&mut c, Event::SpeechStarted, 260);
    let cmds = step(
        &mut c,
        Event::Transcript {
            speaker: Speaker::Assistant,
            item_id: "a2".into(),
            text: "one two three four five six seven eight nine ten".into(),
        },
        220,
    );
    let turn = cmds.iter().find_map(|c| match c {
        Command::Record(CallRecord::Turn(t)) => Some(t.clone()),
        _ => None,
    });
    // 160 of 400 ms heard (100 acked + 60 since): 4 of 10 words.
    assert_eq!(turn.unwrap().text, "one two three four…");
}

#[test]
fn a_closed_operator_is_not_dialled() {
    let mut c = call_in(StateName::Conversing);
    let cmds = step(
        &mut c,
        Event::Dtmf {
            digit: '0',
            operator_open: false,
        },
        100,
    );
    assert_eq!(
        left_with(&cmds),
        Some(&Decision::Voicemail {
            department: Some("Front desk".into())
        })
    );
    assert_eq!(c.state().name(), StateName::Voicemail);
    let mut c = call_in(StateName::Menu);
    let cmds = step(
        &mut c,
        Event::MenuInput {
            digits: Some("0".into()),
            speech: None,
            operator_open: false,
        },
        100,
    );
    assert_eq!(
        replied(&cmds),
        Some(&Decision::Voicemail {
            department: Some("Front desk".into())
        })
    );
}

#[test]
fn an_unanswered_transfer_is_recorded_with_its_reason() {
    let mut c = call_in(StateName::Transferring);
    let cmds = step(
        &mut c,
        Event::DialFinished {
            status: "no-answer".into(),
        },
        100,
    );
    assert!(has(
        &cmds,
        &Command::Record(CallRecord::TransferFailed {
            department: "Front desk".into(),
            status: "no-answer".into()
        })
    ));
}

#[test]
fn a_department_can_send_unanswered_callers_back_to_the_assistant() {
    let mut config = cfg();
    config.operator = Some(Transfer {
        on_no_answer: OnNoAnswer::Assistant,
        ..op()
    });
    let (mut c, _) = Call::start(config, 0);
    step(&mut c, Event::ModelReady, 10);
    step(&mut c, stream(), 20);
    step(
        &mut c,
        Event::Dtmf {
            digit: '0',
            operator_open: true,
        },
        30,
    );
    assert_eq!(c.state().name(), StateName::Transferring);
    assert_eq!(
        replied(&step(&mut c, Event::AfterStream, 40)).map(Decision::kind),
        Some("transfer")
    );
    let cmds = step(
        &mut c,
        Event::DialFinished {
            status: "busy".into(),
        },
        50,
    );
    assert_eq!(replied(&cmds), Some(&Decision::Reconnect));
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::StartModel { resume: Some(_) })));
    assert_eq!(c.state().name(), StateName::Conversing);
    // Twilio reconnects the stream; the fresh model is told and asked to speak.
    step(&mut c, stream(), 60);
    let cmds = step(&mut c, Event::ModelReady, 70);
    assert!(cmds.iter().any(|c| matches!(c, Command::Model(ModelCommand::SystemNote { text }) if text.contains("was not answered (busy)"))));
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::CreateResponse { instructions: None })
    ));
    assert!(c.forwards_caller_audio());
}

#[test]
fn end_call_waits_for_the_goodbye_even_while_the_response_is_only_requested() {
    // The tool result arrives while the function-call response is still
    // active: response.create waits for its end; between that end and the
    // goodbye's response.created, nothing may close the stream.
    let mut c = call_in(StateName::ToolWait);
    step(
        &mut c,
        Event::ToolFinished {
            call_id: "c1".into(),
            name: "end_call".into(),
            output: "{}".into(),
            effect: ToolEffect::EndCall,
            latency_ms: 1,
        },
        60,
    );
    let cmds = step(
        &mut c,
        Event::ResponseDone {
            response_id: "r2".into(),
            status: ResponseStatus::Completed,
        },
        70,
    );
    assert!(has(
        &cmds,
        &Command::Model(ModelCommand::CreateResponse { instructions: None })
    ));
    assert!(
        left_with(&cmds).is_none(),
        "left before the goodbye was even generated"
    );
    let cmds = step(
        &mut c,
        Event::Mark {
            name: "9:100".into(),
        },
        80,
    );
    assert!(
        left_with(&cmds).is_none(),
        "a mark closed the stream before the goodbye"
    );
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r3".into(),
        },
        90,
    );
    step(&mut c, delta("r3", "bye", 100), 95);
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r3".into(),
            status: ResponseStatus::Completed,
        },
        100,
    );
    let cmds = step(
        &mut c,
        Event::Mark {
            name: "1:100".into(),
        },
        200,
    );
    assert_eq!(
        left_with(&cmds),
        Some(&Decision::Hangup {
            farewell: Farewell::None
        })
    );
}

// ---- The exported table, the doc, and the machine agree ----

const DOC: &str = include_str!("../../../../docs/call-state-machine.md");

/// The rows of the doc's "## Transitions" table (header and rule skipped).
fn doc_transition_rows() -> Vec<&'static str> {
    DOC.split("\n## Transitions\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect()
}

#[test]
fn the_doc_shows_the_machine_table_row_for_row() {
    let ours: Vec<String> = TRANSITIONS.iter().map(Row::markdown).collect();
    let doc = doc_transition_rows();
    assert_eq!(
        doc,
        ours,
        "docs/call-state-machine.md must show machine::TRANSITIONS; expected:\n{}",
        ours.join("\n")
    );
}

/// Fires an armed timer at its deadline (it must be armed).
fn at_deadline(c: &Call, t: Timer) -> (Event, Millis) {
    let at = c
        .timer_deadline(&t)
        .unwrap_or_else(|| panic!("{t:?} is not armed"));
    (Event::Timer(t), at)
}

fn menu_input(digits: &str) -> Event {
    Event::MenuInput {
        digits: Some(digits.into()),
        speech: None,
        operator_open: true,
    }
}

fn marks_in(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Twilio(TwilioCommand::Mark(m)) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Spends the restart budget until the call gives up on the model.
fn exhaust_model(c: &mut Call, mut now: Millis) {
    for _ in 0..10 {
        step(c, Event::ModelFailed { reason: "x".into() }, now);
        if c.state().name() == StateName::Menu {
            return;
        }
        let (e, at) = at_deadline(c, Timer::ModelRestart);
        step(c, e, at);
        now = at + 10;
    }
    panic!("the restart budget never ran out");
}

fn conversing_with(cfg: MachineConfig) -> Call {
    let (mut c, _) = Call::start(cfg, 0);
    step(&mut c, Event::ModelReady, 10);
    step(
        &mut c,
        Event::ResponseCreated {
            response_id: "r1".into(),
        },
        15,
    );
    step(&mut c, stream(), 20);
    step(
        &mut c,
        Event::ResponseDone {
            response_id: "r1".into(),
            status: ResponseStatus::Completed,
        },
        25,
    );
    step(
        &mut c,
        Event::Committed {
            item_id: "u1".into(),
        },
        30,
    );
    c
}

/// A call in the row's `from` state and the event (and time) of the row.
fn drive(row: &Row) -> (Call, Event, Millis) {
    use StateName::*;
    if let Some(sip) = super::sip_tests::drive(row) {
        return sip;
    }
    let digit = |d: char, open: bool| Event::Dtmf {
        digit: d,
        operator_open: open,
    };
    match (row.from, row.event, row.when) {
        (Connecting, "model ready", "the stream has not started") => {
            (call_in(Connecting), Event::ModelReady, 10)
        }
        (Connecting, "model ready", "the stream is up") => {
            let mut c = call_in(Connecting);
            step(&mut c, stream(), 5);
            (c, Event::ModelReady, 10)
        }
        (Connecting, "stream start", "the model is ready") => {
            let mut c = call_in(Connecting);
            step(&mut c, Event::ModelReady, 5);
            (c, stream(), 10)
        }
        (Connecting, "stream start", "the model is not ready") => {
            (call_in(Connecting), stream(), 10)
        }
        (Connecting, "timer", "model-ready deadline, model not ready") => {
            let mut c = call_in(Connecting);
            step(&mut c, stream(), 10);
            let (e, at) = at_deadline(&c, Timer::ModelReadyDeadline);
            (c, e, at)
        }
        (Connecting, "timer", "stream-start deadline, no stream (pre-warmed call)") => {
            let c = call_in(Connecting);
            let (e, at) = at_deadline(&c, Timer::StreamStart);
            (c, e, at)
        }
        (Connecting, "stream stop", _) => (call_in(Connecting), Event::StreamStopped, 10),
        (Greeting, "speech started", _) => (call_in(Greeting), Event::SpeechStarted, 30),
        (Greeting, "caller turn committed", _) => (
            call_in(Greeting),
            Event::Committed {
                item_id: "u1".into(),
            },
            30,
        ),
        (Greeting, "mark", "the greeting has played out") => {
            let (mut c, _) = Call::start(cfg(), 0);
            step(&mut c, Event::ModelReady, 5);
            step(
                &mut c,
                Event::ResponseCreated {
                    response_id: "r1".into(),
                },
                6,
            );
            step(&mut c, delta("r1", "a1", 100), 7);
            let marks = marks_in(&step(&mut c, stream(), 50));
            step(
                &mut c,
                Event::ResponseDone {
                    response_id: "r1".into(),
                    status: ResponseStatus::Completed,
                },
                60,
            );
            let last = marks.last().cloned().unwrap_or_default();
            (c, Event::Mark { name: last }, 150)
        }
        (Conversing, "function call", _) => (
            call_in(Conversing),
            Event::FunctionCall {
                call_id: "c9".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            },
            100,
        ),
        (ToolWait, "tool finished", _) => (
            call_in(ToolWait),
            Event::ToolFinished {
                call_id: "c1".into(),
                name: "get_business_hours".into(),
                output: "{}".into(),
                effect: ToolEffect::None,
                latency_ms: 3,
            },
            100,
        ),
        (ToolWait, "timer", "tool deadline of the last running tool") => {
            let c = call_in(ToolWait);
            let (e, at) = at_deadline(&c, Timer::Tool("c1".into()));
            (c, e, at)
        }
        (Conversing, "dtmf", "`0`, operator open") => (call_in(Conversing), digit('0', true), 100),
        (Conversing, "dtmf", "`0`, operator closed") => {
            (call_in(Conversing), digit('0', false), 100)
        }
        (Conversing, "dtmf", "another digit") => (call_in(Conversing), digit('5', true), 100),
        (Conversing, "stream stop", _) => (call_in(Conversing), Event::StreamStopped, 100),
        (Conversing, "timer", "max call duration") => {
            let c = call_in(Conversing);
            let (e, at) = at_deadline(&c, Timer::MaxDuration);
            (c, e, at)
        }
        (Conversing, "shutdown", _) => (call_in(Conversing), Event::Shutdown, 100),
        (Conversing, "hangup request", _) => (
            call_in(Conversing),
            Event::Hangup {
                reason: "operator".into(),
            },
            100,
        ),
        (Conversing, "timer", "silence, the first time") => {
            let mut c = call_in(Conversing);
            // The first deadline counts from the stream start; the caller spoke later.
            let (e, at) = at_deadline(&c, Timer::Silence);
            step(&mut c, e, at);
            let (e, at) = at_deadline(&c, Timer::Silence);
            (c, e, at)
        }
        (Conversing, "timer", "silence, the second time") => {
            let mut c = call_in(Conversing);
            for _ in 0..2 {
                let (e, at) = at_deadline(&c, Timer::Silence);
                step(&mut c, e, at);
            }
            let nudged_at = c.timer_deadline(&Timer::Silence).unwrap_or_default() - 20_000;
            let r = |response_id: &str| response_id.to_string();
            step(
                &mut c,
                Event::ResponseCreated {
                    response_id: r("r9"),
                },
                nudged_at + 10,
            );
            step(
                &mut c,
                Event::ResponseDone {
                    response_id: r("r9"),
                    status: ResponseStatus::Completed,
                },
                nudged_at + 20,
            );
            let (e, at) = at_deadline(&c, Timer::Silence);
            (c, e, at)
        }
        (Conversing, "model failed", "within the restart budget") => (
            call_in(Conversing),
            Event::ModelFailed {
                reason: "closed".into(),
            },
            100,
        ),
        (Conversing, "model failed", "the restart budget is spent") => {
            let mut c = call_in(Conversing);
            for now in [100, 1000] {
                step(
                    &mut c,
                    Event::ModelFailed {
                        reason: "closed".into(),
                    },
                    now,
                );
                let (e, at) = at_deadline(&c, Timer::ModelRestart);
                step(&mut c, e, at);
            }
            (
                c,
                Event::ModelFailed {
                    reason: "closed".into(),
                },
                5000,
            )
        }
        (Conversing, "timer", "restart backoff over") => {
            let mut c = call_in(Conversing);
            step(
                &mut c,
                Event::ModelFailed {
                    reason: "closed".into(),
                },
                100,
            );
            let (e, at) = at_deadline(&c, Timer::ModelRestart);
            (c, e, at)
        }
        (Conversing, "mark", "end_call answered and the goodbye has played") => {
            let mut c = call_in(Conversing);
            step(
                &mut c,
                Event::FunctionCall {
                    call_id: "c9".into(),
                    name: "end_call".into(),
                    arguments: "{}".into(),
                },
                100,
            );
            step(
                &mut c,
                Event::ToolFinished {
                    call_id: "c9".into(),
                    name: "end_call".into(),
                    output: "{}".into(),
                    effect: ToolEffect::EndCall,
                    latency_ms: 1,
                },
                110,
            );
            step(
                &mut c,
                Event::ResponseCreated {
                    response_id: "r5".into(),
                },
                120,
            );
            let marks = marks_in(&step(&mut c, delta("r5", "a5", 100), 125));
            step(
                &mut c,
                Event::ResponseDone {
                    response_id: "r5".into(),
                    status: ResponseStatus::Completed,
                },
                130,
            );
            let last = marks.last().cloned().unwrap_or_default();
            (c, Event::Mark { name: last }, 300)
        }
        (Conversing, "stream lost", _) => (call_in(Conversing), Event::StreamLost, 100),
        (Conversing, "after-stream request", _) => {
            let mut c = call_in(Conversing);
            step(&mut c, Event::StreamLost, 100);
            (c, Event::AfterStream, 110)
        }
        (Conversing, "timer", "stream-lost deadline, no new stream") => {
            let mut c = call_in(Conversing);
            step(&mut c, Event::StreamLost, 100);
            let (e, at) = at_deadline(&c, Timer::StreamLost);
            (c, e, at)
        }
        (Transferring, "after-stream request", _) => {
            (call_in(Transferring), Event::AfterStream, 100)
        }
        (Transferring, "dial finished", "`completed`/`answered`") => (
            call_in(Transferring),
            Event::DialFinished {
                status: "completed".into(),
            },
            100,
        ),
        (Transferring, "dial finished", w) if w.contains("voicemail") => (
            call_in(Transferring),
            Event::DialFinished {
                status: "busy".into(),
            },
            100,
        ),
        (Transferring, "dial finished", w) if w.contains("assistant") => {
            let mut cfg = cfg();
            if let Some(op) = cfg.operator.as_mut() {
                op.on_no_answer = OnNoAnswer::Assistant;
            }
            let mut c = conversing_with(cfg);
            step(&mut c, digit('0', true), 60);
            (
                c,
                Event::DialFinished {
                    status: "no-answer".into(),
                },
                100,
            )
        }
        (Voicemail, "after-stream request", _) => (call_in(Voicemail), Event::AfterStream, 100),
        (Voicemail, "recording finished", _) => (call_in(Voicemail), Event::RecordingFinished, 100),
        (Menu, "after-stream request", _) => (call_in(Menu), Event::AfterStream, 5000),
        (Menu, "menu input", "`1` / \"hours\"") => (call_in(Menu), menu_input("1"), 5000),
        (Menu, "menu input", "`2` / \"message\"") => (call_in(Menu), menu_input("2"), 5000),
        (Menu, "menu input", "`0` / \"operator\", operator open") => {
            (call_in(Menu), menu_input("0"), 5000)
        }
        (Menu, "menu input", "`0` / \"operator\", operator closed") => (
            call_in(Menu),
            Event::MenuInput {
                digits: None,
                speech: Some("the operator please".into()),
                operator_open: false,
            },
            5000,
        ),
        (Menu, "menu input", "unusable, before the 3rd time") => {
            (call_in(Menu), menu_input("7"), 5000)
        }
        (Menu, "menu input", "unusable, the 3rd time") => {
            let mut c = call_in(Menu);
            step(&mut c, menu_input("7"), 5000);
            step(&mut c, menu_input("8"), 6000);
            (c, menu_input("9"), 7000)
        }
        (Menu, "stream start", _) => {
            let mut c = call_in(Connecting);
            exhaust_model(&mut c, 100);
            (c, stream(), 9000)
        }
        (Menu, "timer", "max call duration") => {
            let c = call_in(Menu);
            let (e, at) = at_deadline(&c, Timer::MaxDuration);
            (c, e, at)
        }
        (Ended, "after-stream request", _) => (call_in(Ended), Event::AfterStream, 200),
        (Ended, "stream stop", _) => (call_in(Ended), Event::StreamStopped, 200),
        (Ended, "call ended", _) => (call_in(Ended), ended_at_twilio(), 200),
        (Conversing, "call ended", _) => {
            let mut c = call_in(Conversing);
            step(&mut c, Event::StreamLost, 90);
            (c, ended_at_twilio(), 100)
        }
        (Transferring, "call ended", _) => {
            let mut c = call_in(Transferring);
            step(&mut c, Event::AfterStream, 100);
            (c, ended_at_twilio(), 5000)
        }
        (Transferring | Voicemail | Menu, "timer", w) if w.starts_with("parked deadline") => {
            let mut c = call_in(row.from);
            step(&mut c, Event::AfterStream, 100);
            let (e, at) = at_deadline(&c, Timer::Parked);
            (c, e, at)
        }
        (Voicemail | Menu, "call ended", _) => (call_in(row.from), ended_at_twilio(), 5000),
        _ => panic!("no scenario drives the row {}", row.markdown()),
    }
}

fn ended_at_twilio() -> Event {
    Event::CallEnded {
        status: "completed".into(),
    }
}

#[test]
fn every_row_of_the_machine_table_holds() {
    for row in TRANSITIONS {
        let label = row.markdown();
        let (mut c, event, now) = drive(row);
        assert_eq!(c.state().name(), row.from, "{label}: setup");
        let cmds = c
            .step(event, now)
            .unwrap_or_else(|u| panic!("{label}: {u}"));
        assert_eq!(c.state().name(), row.to, "{label}: {cmds:?}");
        let recorded = cmds.iter().find_map(|c| match c {
            Command::Record(CallRecord::Transition { from, to, cause }) => {
                Some((*from, *to, cause.kind()))
            }
            _ => None,
        });
        let want = row
            .cause
            .map(|cause| (row.from.as_str(), row.to.as_str(), cause));
        assert_eq!(recorded, want, "{label}: {cmds:?}");
    }
}

#[test]
fn without_the_call_the_webhooks_get_the_machines_rules() {
    let cfg = cfg();
    let closed = Event::MenuInput {
        digits: Some("0".into()),
        speech: None,
        operator_open: false,
    };
    assert_eq!(
        answer_without_call(&cfg, &closed),
        Decision::Voicemail {
            department: Some("Front desk".into())
        }
    );
    assert_eq!(
        answer_without_call(&cfg, &menu_input("0")),
        Decision::Transfer(op())
    );
    assert_eq!(
        answer_without_call(&cfg, &menu_input("x")),
        Decision::Menu {
            prompt: MenuPrompt::Retry
        }
    );
    assert_eq!(
        answer_without_call(
            &cfg,
            &Event::DialFinished {
                status: "busy".into()
            }
        ),
        Decision::Voicemail { department: None }
    );
    assert_eq!(
        answer_without_call(&cfg, &Event::AfterStream),
        Decision::Menu {
            prompt: MenuPrompt::Welcome
        }
    );
}

#[test]
fn a_parked_menu_lives_a_minute_past_twilios_last_request() {
    let mut c = call_in(StateName::Menu);
    step(&mut c, Event::AfterStream, 1000);
    assert_eq!(c.timer_deadline(&Timer::Parked), Some(61_000));
    // Each menu round is a sign of life; the deadline moves with it.
    step(&mut c, menu_input("7"), 20_000);
    assert_eq!(c.timer_deadline(&Timer::Parked), Some(80_000));
    // A timer firing is not Twilio asking: it does not move the deadline.
    let cmds = c.handle_timeout(79_999);
    assert!(cmds.is_empty(), "{cmds:?}");
    let cmds = c.handle_timeout(80_000);
    assert_eq!(
        c.state(),
        &State::Ended {
            outcome: Outcome::Gone
        }
    );
    assert!(cmds.contains(&Command::Finish(Outcome::Gone)), "{cmds:?}");
}

#[test]
fn leaving_a_parked_state_disarms_its_deadline() {
    let mut c = call_in(StateName::Menu);
    step(&mut c, Event::AfterStream, 1000);
    step(&mut c, menu_input("2"), 2000);
    assert_eq!(c.state().name(), StateName::Voicemail);
    assert_eq!(
        c.timer_deadline(&Timer::Parked),
        Some(2000 + cfg().parking.recording_ms)
    );
    step(&mut c, Event::RecordingFinished, 30_000);
    assert_eq!(c.timer_deadline(&Timer::Parked), None);
    assert_eq!(c.poll_timeout(), None, "an ended call arms nothing");
}

#[test]
fn a_status_callback_ends_a_live_call_whose_stream_was_lost() {
    let mut c = call_in(StateName::Conversing);
    step(&mut c, Event::StreamLost, 100);
    let cmds = step(&mut c, ended_at_twilio(), 200);
    assert!(cmds.contains(&Command::StopModel), "{cmds:?}");
    assert!(cmds.contains(&Command::Finish(Outcome::CallerHungUp)));
    // Twilio's later requests about it change nothing.
    assert!(step(&mut c, ended_at_twilio(), 300).is_empty());
}

#[test]
fn a_call_resumed_after_failover_apologises_instead_of_greeting() {
    let turns = vec![
        Turn {
            speaker: Speaker::Assistant,
            text: "Harbor Dental, how can I help?".into(),
            item_id: String::new(),
        },
        Turn {
            speaker: Speaker::Caller,
            text: "Can I book a cleaning?".into(),
            item_id: String::new(),
        },
    ];
    let (mut c, first) = Call::resume(cfg(), 0, turns.clone(), 100_000);
    assert_eq!(c.state(), &State::Conversing);
    let resumed = first.iter().find_map(|c| match c {
        Command::StartModel { resume: Some(t) } => Some(t.clone()),
        _ => None,
    });
    let texts: Vec<_> = resumed.unwrap().into_iter().map(|t| t.text).collect();
    assert_eq!(
        texts,
        ["Harbor Dental, how can I help?", "Can I book a cleaning?"]
    );
    assert!(first.iter().any(|c| matches!(
        c,
        Command::Record(CallRecord::Transition {
            cause: Cause::ResumedAfterFailover,
            ..
        })
    )));
    // The time limit counts from the call's real start.
    assert_eq!(
        c.timer_deadline(&Timer::MaxDuration),
        Some(cfg().max_call_ms - 100_000)
    );
    step(&mut c, stream(), 300);
    let cmds = step(&mut c, Event::ModelReady, 400);
    assert!(
        cmds.contains(&Command::Model(ModelCommand::SystemNote {
            text: RESUME_NOTE.into()
        })),
        "{cmds:?}"
    );
    assert!(cmds.contains(&Command::Model(ModelCommand::CreateResponse {
        instructions: None
    })));
    assert!(
        !cmds.contains(&Command::Model(ModelCommand::Greet)),
        "no second greeting: {cmds:?}"
    );
}

#[test]
fn a_resumed_call_whose_new_stream_never_comes_is_lost() {
    let (mut c, _) = Call::resume(cfg(), 0, Vec::new(), 0);
    let at = c.timer_deadline(&Timer::StreamLost).unwrap();
    let cmds = c.handle_timeout(at);
    assert!(cmds.contains(&Command::Finish(Outcome::Lost)), "{cmds:?}");
}
