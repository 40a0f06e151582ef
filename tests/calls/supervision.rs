//! The model misbehaves; the call survives.

use crate::common::*;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep, MenuInput};
use frontdesk_sim::model::{ConnectionBehavior, ModelScript, ScriptTurn};

#[actix_rt::test]
async fn model_drop_mid_answer_resumes_with_the_conversation() {
    let script = ModelScript {
        greeting: "Harbor Dental, how can I help?".into(),
        connections: vec![ConnectionBehavior::DropMidResponse { after_deltas: 3 }],
        turns: vec![ScriptTurn::Reply {
            caller: "Can I talk to billing?".into(),
            reply: "Of course. Billing is open Monday, Wednesday and Friday mornings.".into(),
        }],
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "billing".into(),
            audio: synth_speech(1100, 5),
        },
        CallerStep::WaitForSilence {
            quiet_ms: 1500,
            timeout_ms: 15_000,
        },
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    let rec = rig.model.record();
    assert_eq!(
        rec.connections.len(),
        2,
        "expected exactly one reconnect\n{t}"
    );
    let second = &rec.connections[1];
    // The fresh session got the instructions and tools again...
    assert!(second.session_updates[0]["instructions"]
        .as_str()
        .unwrap()
        .contains("Harbor Dental"));
    assert!(!second.session_updates[0]["tools"]
        .as_array()
        .unwrap()
        .is_empty());
    // ...and the conversation so far, the caller's question included.
    let replayed: Vec<String> = second
        .items_created
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i["role"].as_str().unwrap_or(""),
                i["content"][0]["text"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        replayed
            .iter()
            .any(|r| r == "assistant: Harbor Dental, how can I help?"),
        "{replayed:?}"
    );
    assert!(
        replayed.iter().any(|r| r == "user: Can I talk to billing?"),
        "{replayed:?}"
    );
    // The resumed model answered the question the caller is still owed.
    assert!(
        rec.transcript
            .iter()
            .any(|(w, s)| w == "model" && s.starts_with("Of course. Billing is open")),
        "{:?}",
        rec.transcript
    );
    // No greeting twice.
    let greetings = rec
        .transcript
        .iter()
        .filter(|(_, s)| s == "Harbor Dental, how can I help?")
        .count();
    assert_eq!(greetings, 1, "{:?}", rec.transcript);
    assert_client_events_valid(&rec);
    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_model_restarts_total 1"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn a_dead_model_ends_in_the_menu_and_the_menu_works() {
    let script = ModelScript {
        then: ConnectionBehavior::RejectHandshake { status: 503 },
        ..ModelScript::default()
    };
    let rig = rig(script, |c| {
        front_desk_always_open(c, frontdesk::config::business::OnNoAnswer::Voicemail)
    })
    .await;
    let mut c = caller(vec![CallerStep::WaitForClose { timeout_ms: 15_000 }]);
    c.menu_input = vec![MenuInput::Digits("1".into()), MenuInput::Digits("0".into())];
    c.dial_status = "no-answer".into();
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    // Budget 2 restarts: three attempts, then the menu.
    assert_eq!(rig.model.record().connections.len(), 3, "{t}");
    let urls: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(urls, ["after-stream", "menu", "menu", "dial-status"], "{t}");
    assert!(
        report.followups[0].twiml.contains("<Gather"),
        "{}",
        report.followups[0].twiml
    );
    assert!(
        report.followups[1].twiml.contains("Our opening hours are"),
        "{}",
        report.followups[1].twiml
    );
    assert!(
        report.followups[2]
            .twiml
            .contains("<Number>+15551230100</Number>"),
        "{}",
        report.followups[2].twiml
    );
    // The transfer was not answered: voicemail for that department.
    assert!(
        report.followups[3].twiml.contains("<Record"),
        "{}",
        report.followups[3].twiml
    );
    assert!(
        report.followups[3].twiml.contains("Front desk"),
        "{}",
        report.followups[3].twiml
    );
    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_menu_fallbacks_total 1"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn a_model_that_never_acknowledges_the_session_is_replaced() {
    let script = ModelScript {
        greeting: "Hello from the second try.".into(),
        connections: vec![ConnectionBehavior::NoSessionUpdated],
        ..ModelScript::default()
    };
    let rig = rig(script, |c| c.realtime.session_ready_timeout_ms = 500).await;
    let steps = vec![
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        wait_for_reply(),
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    let rec = rig.model.record();
    assert_eq!(rec.connections.len(), 2, "{t}");
    assert!(report.heard.len() > 8 * 500, "{t}");
    assert_eq!(rec.transcript[0].1, "Hello from the second try.");
}

#[actix_rt::test]
async fn a_hung_response_counts_as_a_failure_and_is_answered_after_restart() {
    let script = ModelScript {
        greeting: "Hi.".into(),
        turns: vec![ScriptTurn::Silent {
            caller: "Hello?".into(),
        }],
        resume_reply: "Sorry about that, how can I help?".into(),
        ..ModelScript::default()
    };
    let rig = rig(script, |c| c.realtime.response_timeout_ms = 1000).await;
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "hello".into(),
            audio: synth_speech(900, 9),
        },
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        wait_for_reply(),
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    let rec = rig.model.record();
    assert_eq!(rec.connections.len(), 2, "{t}");
    // The resumed model answers (the silent turn is owed an answer).
    assert!(
        rec.transcript.iter().filter(|(w, _)| w == "model").count() >= 2,
        "{:?}",
        rec.transcript
    );
    assert_client_events_valid(&rec);
}

#[actix_rt::test]
async fn error_events_are_not_fatal() {
    let script = ModelScript {
        greeting: "Hi.".into(),
        turns: vec![
            ScriptTurn::Error {
                caller: "One".into(),
                code: "rate_limit_exceeded".into(),
                message: "slow down".into(),
            },
            ScriptTurn::Reply {
                caller: "Two".into(),
                reply: "Still here.".into(),
            },
        ],
        ..ModelScript::default()
    };
    let rig = rig(script, |c| c.realtime.response_timeout_ms = 60_000).await;
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "one".into(),
            audio: synth_speech(800, 1),
        },
        CallerStep::Pause { ms: 1200 },
        CallerStep::Say {
            label: "two".into(),
            audio: synth_speech(800, 2),
        },
        wait_for_reply(),
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let rec = rig.model.record();
    assert_eq!(rec.connections.len(), 1, "{}", report.timeline_text());
    assert!(
        rec.transcript.iter().any(|(_, s)| s == "Still here."),
        "{:?}",
        rec.transcript
    );
}
