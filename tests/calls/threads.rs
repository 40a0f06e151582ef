//! A call's actors run on the thread of its Twilio socket: with two
//! workers, a call pre-warmed on the webhook's worker moves to the stream's
//! worker, taking its open model connection along (`call::actor::moving`).

use crate::common::*;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};

const CALLS: usize = 4;

#[actix_rt::test]
async fn calls_move_to_their_streams_thread_with_their_warm_model_connection() {
    let script = ModelScript {
        turns: vec![ScriptTurn::Reply {
            caller: "Hello?".into(),
            reply: "Hi there, how can I help?".into(),
        }],
        ..ModelScript::default()
    };
    let rig = rig(script, |c| c.server.workers = 2).await;
    for n in 0..CALLS {
        let steps = vec![
            wait_for_reply(),
            CallerStep::Say {
                label: "hello".into(),
                audio: synth_speech(600, n as u64),
            },
            wait_for_reply(),
            CallerStep::HangUp,
        ];
        let report = place_call(&rig.base, caller(steps)).await.unwrap();
        let t = report.timeline_text();
        assert!(
            report.greeting_latency.is_some(),
            "call {n}: no greeting\n{t}"
        );
        assert_eq!(
            report.first_audio_after_say.len(),
            1,
            "call {n}: no answer\n{t}"
        );
        assert!(
            report.first_audio_after_say[0].is_some(),
            "call {n}: the answer never came\n{t}"
        );
    }
    let rec = rig.model.record();
    // One connection a call: the pre-warmed one, moved, never re-opened.
    assert_eq!(rec.connections.len(), CALLS);
    for (n, conn) in rec.connections.iter().enumerate() {
        assert!(
            conn.input_audio.len() >= 160 * 25,
            "connection {n} got {} bytes of caller audio",
            conn.input_audio.len()
        );
    }
    let metrics = rig.metrics().await;
    let moved = metric(&metrics, "frontdesk_calls_moved_total");
    assert!(moved >= 1.0, "no call moved:\n{metrics}");
    assert_eq!(metric(&metrics, "frontdesk_calls_split_total"), 0.0);
    assert_eq!(metric(&metrics, "frontdesk_model_restarts_total"), 0.0);
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}
