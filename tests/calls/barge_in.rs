//! Barge-in over real sockets: the caller talks over a long answer.

use crate::common::*;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};

const LONG: &str = "We are a family dental practice with three dentists, open since 1998, offering cleanings, fillings, \
    crowns, whitening and emergency care, and we accept most insurance plans, including all the large ones.";

#[actix_rt::test]
async fn caller_interrupts_clear_truncate_within_what_was_played() {
    let script = ModelScript {
        greeting: "Hello, Harbor Dental.".into(),
        turns: vec![
            ScriptTurn::Reply {
                caller: "Tell me about you".into(),
                reply: LONG.into(),
            },
            ScriptTurn::Reply {
                caller: "Do you take new patients?".into(),
                reply: "Yes we do.".into(),
            },
        ],
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "ask".into(),
            audio: synth_speech(900, 1),
        },
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        CallerStep::Pause { ms: 1500 },
        CallerStep::Say {
            label: "interrupt".into(),
            audio: synth_speech(1200, 2),
        },
        wait_for_reply(),
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    let rec = rig.model.record();
    let conn = &rec.connections[0];

    // Twilio was told to drop its buffer.
    assert_eq!(report.clears.len(), 1, "clears: {:?}\n{t}", report.clears);

    // The assistant item was truncated, never beyond what the caller heard.
    assert_eq!(conn.truncates.len(), 1, "{:?}", conn.truncates);
    let truncate = &conn.truncates[0];
    let audio_end_ms = truncate["audio_end_ms"].as_u64().unwrap();
    // What the caller played of the interrupted answer: all it heard minus
    // the greeting (the greeting played in full before the question).
    let greeting_ms = "Hello, Harbor Dental.".len() as u64 * 55;
    let heard_ms = report.heard.len() as u64 / 8;
    // The second answer ("Yes we do.") played after the interruption too.
    let second_ms = "Yes we do.".len() as u64 * 55;
    let played_of_long = heard_ms.saturating_sub(greeting_ms + second_ms);
    assert!(audio_end_ms > 0, "{truncate}");
    assert!(
        audio_end_ms <= played_of_long,
        "truncate at {audio_end_ms} ms but the caller heard only {played_of_long} ms of that answer\n{t}"
    );
    // ...and not wildly short of it either (marks + real-time extrapolation).
    assert!(
        played_of_long - audio_end_ms < 400,
        "truncate {audio_end_ms} vs played {played_of_long}\n{t}"
    );
    assert_eq!(truncate["content_index"], 0);

    // The model cancelled the response; its late audio never reached the caller,
    // and the answer to the interruption did.
    assert!(
        rec.transcript
            .iter()
            .any(|(w, s)| w == "model" && s == "Yes we do."),
        "{:?}",
        rec.transcript
    );
    assert!(report.problems.is_empty(), "{:?}\n{t}", report.problems);
    assert_client_events_valid(&rec);
}
