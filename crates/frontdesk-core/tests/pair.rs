//! The machine and both of its peers on one virtual clock (see
//! `pair/harness.rs`). Each test scripts the caller and the model, runs the
//! pair, and checks what each side saw and when.

#[path = "pair/harness.rs"]
mod harness;

use frontdesk_core::decision::{Decision, Farewell};
use frontdesk_core::machine::SILENCE_NUDGE;
use frontdesk_core::{
    CallRecord, Command, Event, ModelCommand, Outcome, ToolEffect, TwilioCommand,
};
use harness::{config, ModelSim, Pair, Reply, ToolScript};

fn speak(ms: u64) -> Reply {
    Reply::Speak { ms }
}

fn model(replies: Vec<Reply>) -> ModelSim {
    ModelSim {
        replies,
        ..ModelSim::default()
    }
}

fn finished(p: &Pair) -> Vec<(u64, Outcome)> {
    p.commands(|c| match c {
        Command::Finish(o) => Some(*o),
        _ => None,
    })
}

fn restarts(p: &Pair) -> Vec<(u64, String)> {
    p.commands(|c| match c {
        Command::Record(CallRecord::ModelRestart { reason, .. }) => Some(reason.clone()),
        _ => None,
    })
}

fn truncates(p: &Pair) -> Vec<(u64, u64)> {
    p.commands(|c| match c {
        Command::Model(ModelCommand::Truncate { audio_end_ms, .. }) => Some(*audio_end_ms),
        _ => None,
    })
}

fn tool_outputs(p: &Pair) -> Vec<(u64, String)> {
    p.commands(|c| match c {
        Command::Model(ModelCommand::FunctionOutput { output, .. }) => Some(output.clone()),
        _ => None,
    })
}

fn holds(p: &Pair) -> Vec<u64> {
    p.commands(|c| matches!(c, Command::PlayHoldMessage).then_some(()))
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

fn left_with(p: &Pair) -> Vec<(u64, Decision)> {
    p.commands(|c| match c {
        Command::LeaveStream(d) => Some(d.clone()),
        _ => None,
    })
}

// ---- greeting ----

#[test]
fn a_pre_warmed_greeting_plays_the_moment_the_stream_starts() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            chunk_every_ms: 50, // twice real time
            ..model(vec![speak(1500)])
        },
    );
    p.stream_starts_at(300);
    p.run_until(5000);
    assert_eq!(p.twilio.first_media_at, Some(300));
    assert_eq!(p.entered("greeting"), Some(300));
    // All of it played, without a gap, and only then is the greeting over.
    let played_until = p.twilio.chunks.last().map(|c| c.1);
    assert_eq!(played_until, Some(300 + 1500));
    assert_eq!(p.twilio.heard_ms(5000), 1500);
    assert_eq!(p.entered("conversing"), played_until);
    assert!(p.unexpected.is_empty(), "{:?}", p.unexpected);
}

#[test]
fn with_the_stream_first_the_greeting_starts_with_its_first_delta() {
    let m = model(vec![speak(600)]);
    let first_delta = m.ready_after_ms + m.first_delta_ms;
    let mut p = Pair::new(config(), m);
    p.stream_starts_at(10);
    p.run_until(3000);
    assert_eq!(p.twilio.first_media_at, Some(first_delta));
    assert_eq!(p.state(), "conversing");
}

// ---- barge-in, pacing, marks ----

#[test]
fn barge_in_truncates_at_what_the_caller_actually_heard() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            chunk_every_ms: 20, // five times real time: pacing matters
            ..model(vec![speak(3000), speak(400)])
        },
    );
    p.stream_starts_at(100);
    p.caller_says(1234, 600, "wait, one question");
    p.run_until(4000);
    let cut = truncates(&p);
    assert_eq!(cut.len(), 1, "{cut:?}");
    let (at, audio_end_ms) = cut[0];
    assert_eq!(at, 1234);
    assert_eq!(p.twilio.clears, vec![1234]);
    let heard = p.twilio.heard_ms(1234);
    assert!(heard > 1000, "{heard}");
    assert!(
        audio_end_ms.abs_diff(heard) <= 20,
        "truncated at {audio_end_ms} ms, the caller heard {heard} ms"
    );
    // Pacing kept Twilio's buffer short, so the clear had little to flush.
    assert!(
        p.twilio.max_ahead_ms <= 200 + 100,
        "{}",
        p.twilio.max_ahead_ms
    );
    // The answer to the question played in full afterwards.
    assert_eq!(p.twilio.heard_ms(4000), heard + 400);
    assert_eq!(p.state(), "conversing");
}

#[test]
fn every_mark_is_echoed_once_when_its_audio_has_played() {
    let mut p = Pair::new(config(), model(vec![speak(1000)]));
    p.stream_starts_at(100);
    p.run_until(3000);
    let echoed: Vec<&String> = p.twilio.marks_echoed_names();
    assert!(!p.twilio.marks_received.is_empty());
    assert_eq!(echoed, p.twilio.marks_received.iter().collect::<Vec<_>>());
    let times: Vec<u64> = p.twilio.marks_echoed.iter().map(|(t, _)| *t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let last_audio = p.twilio.chunks.last().map(|c| c.1);
    assert_eq!(times.last().copied(), last_audio);
}

// ---- model supervision ----

#[test]
fn a_dropped_model_resumes_with_the_transcript_without_a_hold_message() {
    // The first answer is lost with the dropped session; the resumed one speaks.
    let mut p = Pair::new(config(), model(vec![speak(500), speak(700), speak(700)]));
    p.stream_starts_at(100);
    p.caller_says(2000, 500, "Are you open Friday?");
    // Dropped after the turn, before the answer starts.
    p.script.at(
        2512,
        Event::ModelFailed {
            reason: "socket closed".into(),
        },
    );
    p.run_until(6000);
    assert_eq!(restarts(&p).len(), 1);
    assert_eq!(p.model.connects.len(), 2);
    let (reconnected_at, resume) = &p.model.connects[1];
    assert_eq!(*reconnected_at, 2512 + 100, "after the backoff");
    let resume = resume
        .as_ref()
        .map(|r| r.iter().map(|t| t.text.clone()).collect::<Vec<_>>());
    assert_eq!(resume, Some(vec!["Are you open Friday?".to_string()]));
    // Back within the threshold: no "one moment"; the owed answer plays.
    assert!(holds(&p).is_empty());
    let ready = 2612 + p.model.ready_after_ms;
    assert!(p
        .model
        .received
        .iter()
        .any(|(t, c)| *t == ready && matches!(c, ModelCommand::CreateResponse { .. })));
    assert_eq!(p.twilio.heard_ms(6000), 500 + 700);
}

#[test]
fn the_hold_message_plays_only_after_its_threshold() {
    let mut p = Pair::new(config(), model(vec![speak(500), speak(700)]));
    p.stream_starts_at(100);
    p.caller_says(2000, 500, "Are you open Friday?");
    p.script.at(
        2512,
        Event::ModelFailed {
            reason: "socket closed".into(),
        },
    );
    p.run_until(2600);
    p.model.ready_after_ms = 3000; // the new session is slow
    p.run_until(9000);
    assert_eq!(holds(&p), vec![2512 + 1200]);
    assert_eq!(p.state(), "conversing");
}

// ---- tools ----

#[test]
fn a_tool_past_its_deadline_answers_the_model_with_an_error() {
    let mut p = Pair::new(
        config(),
        model(vec![
            speak(300),
            Reply::Tool {
                name: "lookup".into(),
                arguments: "{}".into(),
            },
            speak(300),
        ]),
    );
    p.tools.push(ToolScript {
        name: "lookup".into(),
        after_ms: None,
        output: String::new(),
        effect: ToolEffect::None,
    });
    p.stream_starts_at(100);
    p.caller_says(1000, 400, "book me in");
    p.run_until(10_000);
    let called_at = p.entered("tool_wait").unwrap_or_default();
    assert_eq!(called_at, 1400 + p.model.first_delta_ms);
    let outputs = tool_outputs(&p);
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, called_at + 5000);
    assert!(outputs[0].1.contains("timeout"));
    assert_eq!(p.state(), "conversing");
    assert!(p.twilio.heard_ms(10_000) >= 600, "the apology played");
}

#[test]
fn a_tool_in_time_answers_with_its_output() {
    let mut p = Pair::new(
        config(),
        model(vec![
            speak(300),
            Reply::Tool {
                name: "lookup".into(),
                arguments: "{}".into(),
            },
        ]),
    );
    p.tools.push(ToolScript {
        name: "lookup".into(),
        after_ms: Some(200),
        output: "{\"open\":true}".into(),
        effect: ToolEffect::None,
    });
    p.stream_starts_at(100);
    p.caller_says(1000, 400, "are you open");
    p.run_until(10_000);
    let called_at = p.entered("tool_wait").unwrap_or_default();
    assert_eq!(
        tool_outputs(&p),
        vec![(called_at + 200, "{\"open\":true}".to_string())]
    );
}

// ---- every timer ----

#[test]
fn timer_pace_releases_fast_model_audio_in_real_time() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            chunk_every_ms: 10, // ten times real time
            ..model(vec![speak(3000)])
        },
    );
    p.stream_starts_at(100);
    p.run_until(5000);
    let media: Vec<u64> = p
        .commands(|c| matches!(c, Command::Twilio(TwilioCommand::Media(_))).then_some(()))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let last_delta = 100 + 30 * 10; // all of it arrived by then
    assert!(media.iter().any(|t| *t > last_delta + 1000), "{media:?}");
    assert!(p.twilio.max_ahead_ms <= 300, "{}", p.twilio.max_ahead_ms);
    assert_eq!(p.twilio.heard_ms(5000), 3000);
}

#[test]
fn timer_stream_start_abandons_a_call_whose_stream_never_comes() {
    let mut p = Pair::new(config(), model(vec![speak(500)]));
    p.run_until(20_000);
    assert_eq!(finished(&p), vec![(15_000, Outcome::Abandoned)]);
    assert!(!p.model.connected);
}

#[test]
fn timer_model_ready_deadline_sends_the_caller_to_the_menu() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            hang_session: true,
            ..ModelSim::default()
        },
    );
    p.stream_starts_at(100);
    p.run_until(6000);
    assert_eq!(p.entered("menu"), Some(4100));
    assert_eq!(left_with(&p).len(), 1);
    assert_eq!(p.twilio.first_media_at, None);
}

#[test]
fn timer_session_ready_counts_a_silent_handshake_as_a_failure() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            hang_session: true,
            ..ModelSim::default()
        },
    );
    p.run_until(5200);
    let r = restarts(&p);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, 5000);
    assert!(r[0].1.contains("session.updated"), "{}", r[0].1);
    assert_eq!(p.model.connects.len(), 2);
    assert_eq!(p.model.connects[1].0, 5100);
}

#[test]
fn timer_response_deadline_counts_a_mute_model_as_a_failure() {
    let mut p = Pair::new(config(), model(vec![speak(300), Reply::Silent]));
    p.stream_starts_at(100);
    p.caller_says(1000, 400, "hello?");
    p.run_until(10_000);
    let r = restarts(&p);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, 1400 + 8000);
    assert!(r[0].1.contains("no response"), "{}", r[0].1);
}

#[test]
fn timer_model_restart_reconnects_after_the_backoff() {
    let mut p = Pair::new(config(), model(vec![speak(300)]));
    p.stream_starts_at(100);
    p.script.at(2000, Event::ModelFailed { reason: "x".into() });
    p.run_until(3000);
    let starts: Vec<u64> = p.model.connects.iter().map(|(t, _)| *t).collect();
    assert_eq!(starts, vec![0, 2100]);
    assert!(p.call.forwards_caller_audio());
}

#[test]
fn timer_hold_message_is_disarmed_when_the_model_is_back() {
    let mut p = Pair::new(config(), model(vec![speak(300)]));
    p.stream_starts_at(100);
    p.script.at(2000, Event::ModelFailed { reason: "x".into() });
    p.run_until(2200);
    assert_eq!(
        p.call.timer_deadline(&frontdesk_core::Timer::HoldMessage),
        None
    );
    p.run_until(10_000);
    assert!(holds(&p).is_empty());
}

#[test]
fn timer_recycle_restarts_the_session_before_the_cap_without_spending_budget() {
    let mut cfg = config();
    cfg.session_cap_ms = 10_000;
    let mut p = Pair::new(cfg, model(vec![speak(300)]));
    p.stream_starts_at(100);
    p.caller_says(3000, 300, "thanks");
    p.run_until(12_000);
    let starts: Vec<u64> = p.model.connects.iter().map(|(t, _)| *t).collect();
    assert_eq!(starts, vec![0, 50 + 10_000]);
    assert!(restarts(&p).is_empty());
    assert!(
        p.model.connects[1].1.is_some(),
        "resumed with the transcript"
    );
}

#[test]
fn timer_silence_nudges_once_then_says_goodbye() {
    let mut p = Pair::new(config(), model(vec![speak(500), speak(500)]));
    p.stream_starts_at(100);
    p.run_until(90_000);
    let nudges: Vec<u64> = p
        .model
        .received
        .iter()
        .filter(|(_, c)| {
            matches!(c, ModelCommand::CreateResponse { instructions: Some(i) } if i == SILENCE_NUDGE)
        })
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(nudges.len(), 1);
    let ended = finished(&p);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, Outcome::Silence);
    assert!(ended[0].0 >= nudges[0] + 20_000);
    let goodbye = left_with(&p);
    assert_eq!(
        goodbye.last().map(|(_, d)| d.clone()),
        Some(Decision::Hangup {
            farewell: Farewell::NoResponse
        })
    );
}

#[test]
fn timer_max_duration_ends_a_chatty_call() {
    let mut cfg = config();
    cfg.max_call_ms = 60_000;
    let mut p = Pair::new(cfg, model(vec![]));
    p.model.default_reply = speak(300);
    p.stream_starts_at(100);
    for i in 1..8 {
        p.caller_says(i * 9000, 300, "still here");
    }
    p.run_until(70_000);
    assert_eq!(finished(&p), vec![(60_000, Outcome::MaxDuration)]);
    assert_eq!(
        left_with(&p).last().map(|(_, d)| d.clone()),
        Some(Decision::Hangup {
            farewell: Farewell::TimeLimit
        })
    );
}

#[test]
fn timer_exit_deadline_leaves_when_marks_never_come() {
    let mut p = Pair::new(
        config(),
        model(vec![
            speak(300),
            Reply::Tool {
                name: "end_call".into(),
                arguments: "{}".into(),
            },
            speak(1000),
        ]),
    );
    p.twilio.mute_marks = true;
    p.tools.push(ToolScript {
        name: "end_call".into(),
        after_ms: Some(100),
        output: "{}".into(),
        effect: ToolEffect::EndCall,
    });
    p.stream_starts_at(100);
    p.caller_says(1000, 400, "that's all, bye");
    p.run_until(20_000);
    let done = p
        .commands(|c| {
            matches!(c, Command::Model(ModelCommand::FunctionOutput { .. })).then_some(())
        })
        .first()
        .map(|(t, _)| *t)
        .unwrap_or_default();
    let ended = finished(&p);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].1, Outcome::Completed);
    // The goodbye (1000 ms) is streamed in real time after the tool output
    // and done when its last delta is in; with no mark echoed none of it
    // counts as played, so the deadline is its whole length plus the grace.
    let goodbye_done = done + p.model.first_delta_ms + 1000;
    assert_eq!(ended[0].0, goodbye_done + 1000 + 1500);
    assert!(p.twilio.marks_echoed.is_empty());
}

#[test]
fn timer_stream_lost_ends_a_call_whose_stream_never_returns() {
    let mut p = Pair::new(config(), model(vec![speak(300)]));
    p.stream_starts_at(100);
    p.script.at(2000, Event::StreamLost);
    p.run_until(30_000);
    assert_eq!(finished(&p), vec![(2000 + 15_000, Outcome::Lost)]);
}

#[test]
fn timer_tool_is_covered_and_a_stale_one_is_harmless() {
    // The deadline of a tool that answered in time never fires.
    let mut p = Pair::new(
        config(),
        model(vec![
            speak(300),
            Reply::Tool {
                name: "lookup".into(),
                arguments: "{}".into(),
            },
        ]),
    );
    p.tools.push(ToolScript {
        name: "lookup".into(),
        after_ms: Some(4000),
        output: "{}".into(),
        effect: ToolEffect::None,
    });
    p.stream_starts_at(100);
    p.caller_says(1000, 400, "check please");
    p.run_until(12_000);
    assert_eq!(tool_outputs(&p).len(), 1);
    assert!(p.unexpected.is_empty(), "{:?}", p.unexpected);
}

// ---- the caller's keys and hang-up ----

#[test]
fn the_caller_presses_zero_mid_answer_and_is_put_through() {
    let mut p = Pair::new(config(), model(vec![speak(3000)]));
    p.stream_starts_at(100);
    p.script.at(
        1000,
        Event::Dtmf {
            digit: '0',
            operator_open: true,
        },
    );
    p.run_until(5000);
    assert_eq!(p.entered("transferring"), Some(1000));
    assert!(matches!(left_with(&p)[..], [(1000, Decision::Transfer(_))]));
    assert!(!p.model.connected);
    // Nothing more was sent to the caller after leaving the stream.
    assert!(p.twilio.chunks.iter().all(|(start, _)| *start < 1000 + 200));
}

#[test]
fn the_caller_hangs_up_and_the_call_is_over() {
    let mut p = Pair::new(config(), model(vec![speak(3000)]));
    p.stream_starts_at(100);
    p.script.at(1500, Event::StreamStopped);
    p.run_until(60_000);
    assert_eq!(finished(&p), vec![(1500, Outcome::CallerHungUp)]);
    assert_eq!(p.call.poll_timeout(), None, "no timer outlives the call");
}

// ---- a model that accepts the session but never answers ----

#[test]
fn a_model_that_never_answers_is_replaced_and_then_the_caller_gets_the_menu() {
    let mut p = Pair::new(
        config(),
        ModelSim {
            default_reply: Reply::Silent,
            ..ModelSim::default()
        },
    );
    p.stream_starts_at(300);
    p.run_until(60_000);

    // Each failure is blamed on what was owed: the greeting, never a caller
    // turn that did not happen; and each new session is asked for it again.
    let restarts = restarts(&p);
    assert_eq!(restarts.len(), 2, "{restarts:?}");
    assert!(
        restarts.iter().all(|(_, r)| r.contains("greeting")),
        "{restarts:?}"
    );
    let greets = p.commands(|c| matches!(c, Command::Model(ModelCommand::Greet)).then_some(()));
    assert_eq!(greets.len(), p.model.connects.len(), "{greets:?}");

    // Past the budget the caller lands in the menu, blamed on the model:
    // never hung up on for a silence the caller did not cause.
    let left = left_with(&p);
    assert!(
        matches!(left.as_slice(), [(_, Decision::Menu { .. })]),
        "{left:?}"
    );
    assert!(finished(&p).is_empty(), "{:?}", finished(&p));
    let menu_at = left[0].0;

    // Meanwhile no silence longer than 2 s: "one moment, please" (1.8 s)
    // from 1.2 s after the stream starts, again while the wait lasts.
    const CLIP_MS: u64 = 1800;
    let holds = holds(&p);
    assert!(!holds.is_empty());
    let mut quiet_since = 300;
    for h in holds.iter().copied().filter(|h| *h < menu_at) {
        assert!(
            h - quiet_since <= 2000,
            "{}ms of silence before {h}: {holds:?}",
            h - quiet_since
        );
        quiet_since = h + CLIP_MS;
    }
    assert!(
        menu_at.saturating_sub(quiet_since) <= 2000,
        "silence before the menu: {holds:?}, menu at {menu_at}"
    );
}

// ---- the SIP transport (OpenAI plays the audio; we refer and hang up) ----

fn sip_config() -> frontdesk_core::MachineConfig {
    frontdesk_core::MachineConfig {
        transport: frontdesk_core::Transport::Sip,
        sip_fallback: Some(frontdesk_core::Transfer {
            department: "Fallback line".into(),
            number: "+15559990000".into(),
            on_no_answer: frontdesk_core::OnNoAnswer::Voicemail,
        }),
        ..config()
    }
}

fn sip_model(replies: Vec<Reply>) -> ModelSim {
    ModelSim {
        sip: true,
        ..model(replies)
    }
}

fn sip_commands(p: &Pair) -> Vec<(u64, frontdesk_core::SipCommand)> {
    p.commands(|c| match c {
        Command::Sip(s) => Some(s.clone()),
        _ => None,
    })
}

#[test]
fn on_sip_the_greeting_starts_when_the_session_is_ready_and_ends_when_openai_stops_playing() {
    let m = sip_model(vec![speak(1200)]);
    let ready = m.ready_after_ms;
    let started = ready + m.first_delta_ms;
    let mut p = Pair::new(sip_config(), m);
    p.run_until(5000);
    assert_eq!(p.entered("greeting"), Some(ready));
    assert_eq!(p.entered("conversing"), Some(started + 1200));
    // Nothing ever went to a Twilio stream.
    assert!(p.twilio.first_media_at.is_none());
    assert!(left_with(&p).is_empty());
    assert!(p.unexpected.is_empty(), "{:?}", p.unexpected);
}

#[test]
fn on_sip_a_transfer_refers_once_the_announcement_has_played_and_ends_transferred() {
    let sales = frontdesk_core::Transfer {
        department: "Sales".into(),
        number: "+15551230200".into(),
        on_no_answer: frontdesk_core::OnNoAnswer::Voicemail,
    };
    let mut p = Pair::new(
        sip_config(),
        sip_model(vec![
            speak(300),
            Reply::Tool {
                name: "transfer_call".into(),
                arguments: r#"{"department":"Sales"}"#.into(),
            },
            speak(900),
        ]),
    );
    p.tools.push(ToolScript {
        name: "transfer_call".into(),
        after_ms: Some(20),
        output: r#"{"ok":true}"#.into(),
        effect: ToolEffect::Transfer(sales),
    });
    p.caller_says(1000, 400, "sales please");
    p.run_until(10_000);
    let refers = sip_commands(&p);
    assert_eq!(refers.len(), 1, "{refers:?}");
    let (at, cmd) = &refers[0];
    assert_eq!(
        *cmd,
        frontdesk_core::SipCommand::Refer {
            target_uri: "tel:+15551230200".into()
        }
    );
    // The announcement (900 ms) played out before the refer.
    let tool_done = p.entered("conversing").unwrap_or_default();
    assert!(
        *at >= 1400 + 900,
        "referred at {at}, tool done at {tool_done}"
    );
    assert_eq!(finished(&p), vec![(*at + 40, Outcome::Transferred)]);
    assert!(p.unexpected.is_empty(), "{:?}", p.unexpected);
}

#[test]
fn on_sip_a_dropped_sideband_resumes_and_past_the_budget_the_call_goes_to_the_fallback() {
    let mut p = Pair::new(sip_config(), sip_model(vec![speak(300)]));
    p.caller_says(1000, 400, "hello");
    // The sideband socket drops three times in quick succession.
    for at in [2000, 2500, 3000] {
        p.script.at(
            at,
            Event::ModelFailed {
                reason: "sideband closed".into(),
            },
        );
    }
    p.run_until(10_000);
    let connects = &p.model.connects;
    assert!(connects.len() >= 3, "{connects:?}");
    // The resumed connections carried the conversation so far.
    assert!(connects[1].1.as_ref().is_some_and(|t| !t.is_empty()));
    assert_eq!(restarts(&p).len(), 2);
    let refers = sip_commands(&p);
    assert_eq!(
        refers.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        vec![frontdesk_core::SipCommand::Refer {
            target_uri: "tel:+15559990000".into()
        }]
    );
    assert!(holds(&p).is_empty(), "no hold clip without a stream");
    assert_eq!(finished(&p).last().map(|f| f.1), Some(Outcome::Transferred));
}

#[test]
fn on_sip_the_time_limit_hangs_up_through_openai() {
    let mut p = Pair::new(
        frontdesk_core::MachineConfig {
            max_call_ms: 4000,
            ..sip_config()
        },
        sip_model(vec![speak(300)]),
    );
    p.run_until(10_000);
    assert_eq!(
        sip_commands(&p),
        vec![(4000, frontdesk_core::SipCommand::Hangup)]
    );
    assert_eq!(finished(&p), vec![(4000, Outcome::MaxDuration)]);
}
