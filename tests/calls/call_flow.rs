//! A whole call over real sockets: greeting, caller audio to the model,
//! a tool round trip, end_call, and every client event checked against the
//! official SDK's schema.

use crate::common::*;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::json;

#[actix_rt::test]
async fn greeting_tool_round_trip_and_goodbye() {
    let script = ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns: vec![
            ScriptTurn::Tool {
                caller: "Are you open on Friday?".into(),
                name: "get_business_hours".into(),
                arguments: json!({"when": "friday"}),
                reply_template: "Result: {output}".into(),
            },
            ScriptTurn::Tool {
                caller: "Thanks, bye".into(),
                name: "end_call".into(),
                arguments: json!({}),
                reply_template: "Goodbye!".into(),
            },
        ],
        audio_ms_per_char: 10,
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;
    let question = synth_speech(1200, 7);
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "question".into(),
            audio: question.clone(),
        },
        wait_for_reply(),
        CallerStep::Say {
            label: "bye".into(),
            audio: synth_speech(800, 8),
        },
        CallerStep::WaitForClose { timeout_ms: 15_000 },
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();

    // The greeting reached the caller, quickly.
    let greeting = report
        .greeting_latency
        .unwrap_or_else(|| panic!("no greeting\n{t}"));
    assert!(
        greeting.as_millis() < 1000,
        "greeting took {greeting:?}\n{t}"
    );
    assert!(
        report.heard.len() >= 8 * 400,
        "heard only {} bytes\n{t}",
        report.heard.len()
    );
    assert!(report.problems.is_empty(), "{:?}\n{t}", report.problems);
    assert!(
        report.step_timeouts.is_empty(),
        "{:?}\n{t}",
        report.step_timeouts
    );

    let rec = rig.model.record();
    assert_eq!(rec.connections.len(), 1);
    let conn = &rec.connections[0];

    // Authenticated, to the configured model.
    assert_eq!(conn.authorization.as_deref(), Some("Bearer sk-simulated"));
    assert!(
        conn.path_and_query
            .starts_with("/v1/realtime?model=gpt-realtime"),
        "{}",
        conn.path_and_query
    );

    // The session: pcmu both ways, our tools, server VAD.
    let session = &conn.session_updates[0];
    assert_eq!(session["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(session["audio"]["output"]["format"]["type"], "audio/pcmu");
    let tools: Vec<&str> = session["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"get_business_hours") && tools.contains(&"end_call"),
        "{tools:?}"
    );

    // Caller audio reached the model byte for byte (passthrough).
    assert!(
        conn.input_audio
            .windows(question.len())
            .any(|w| w == question.as_slice()),
        "the caller's words did not reach the model intact ({} bytes received)",
        conn.input_audio.len()
    );

    // The tool ran with the model's arguments and its output went back.
    let outputs: Vec<&serde_json::Value> = conn
        .items_created
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .collect();
    assert_eq!(outputs.len(), 2, "{:?}", conn.items_created);
    let hours: serde_json::Value =
        serde_json::from_str(outputs[0]["output"].as_str().unwrap()).unwrap();
    assert_eq!(hours["weekday"], "Friday");
    assert_eq!(hours["hours"], json!(["08:00-14:00"]));

    // end_call: the engine left the stream after the goodbye, then hung up.
    assert!(report.closed_by_engine, "{t}");
    let last = report
        .followups
        .last()
        .unwrap_or_else(|| panic!("no after-stream request\n{t}"));
    assert!(last.url.ends_with("/twilio/after-stream"), "{}", last.url);
    assert!(last.twiml.contains("<Hangup />"), "{}", last.twiml);
    assert_eq!(
        report.unplayed_at_close_ms, 0,
        "hung up before the goodbye finished\n{t}"
    );

    // The transcript as the model saw it.
    assert_eq!(
        rec.transcript[0].1,
        "Thanks for calling Harbor Dental, how can I help?"
    );
    assert!(
        rec.transcript
            .iter()
            .any(|(w, s)| w == "model" && s == "Goodbye!"),
        "{:?}",
        rec.transcript
    );

    assert_client_events_valid(&rec);

    let metrics = rig.metrics().await;
    assert!(
        metrics.contains("frontdesk_calls_total{outcome=\"completed\"} 1"),
        "{metrics}"
    );

    // The whole call is on record: transitions, transcript, tools, usage, outcome.
    assert!(rig
        .running
        .recorder
        .send(frontdesk::recorder::Flush {
            timeout: std::time::Duration::from_secs(5)
        })
        .await
        .unwrap());
    let detail = rig
        .running
        .store
        .call_detail(&report.call_sid)
        .await
        .unwrap()
        .expect("call recorded");
    let detail = serde_json::to_value(&detail).unwrap();
    assert_eq!(detail["outcome"], "completed", "{detail:#}");
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"ended"), "{kinds:?}");
    assert!(kinds.contains(&"transition"), "{kinds:?}");
    let tools: Vec<&str> = detail["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["get_business_hours", "end_call"], "{detail:#}");
    assert!(
        detail["transcript"].as_array().unwrap().len() >= 4,
        "{detail:#}"
    );
    assert!(
        detail["usage"]["output_tokens"].as_i64().unwrap() > 0,
        "{detail:#}"
    );
    assert!(
        metrics.contains("frontdesk_greeting_latency_seconds_count 1"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn pcm_provider_is_transcoded_both_ways() {
    let script = ModelScript {
        turns: vec![ScriptTurn::Reply {
            caller: "Hello?".into(),
            reply: "Hi there, how can I help?".into(),
        }],
        ..ModelScript::default()
    };
    let rig = rig(script, |c| {
        c.realtime.audio_format = frontdesk::config::AudioFormatSetting::Pcm24k
    })
    .await;
    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "hello".into(),
            audio: synth_speech(1000, 3),
        },
        wait_for_reply(),
        CallerStep::HangUp,
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    let rec = rig.model.record();
    let conn = &rec.connections[0];
    assert_eq!(
        conn.session_updates[0]["audio"]["input"]["format"]["type"],
        "audio/pcm"
    );
    // 20 ms of mu-law (160 bytes) becomes 20 ms of 24 kHz PCM16 (960 bytes).
    assert!(
        conn.input_audio.len() % 960 == 0 && conn.input_audio.len() >= 960 * 50,
        "{}",
        conn.input_audio.len()
    );
    // The caller heard the greeting and the answer as mu-law.
    assert!(
        report.heard.len() > 8 * 1000,
        "heard {} bytes\n{t}",
        report.heard.len()
    );
    assert!(
        frontdesk_sim::audio::mulaw_dbfs(&report.heard) > -40.0,
        "what the caller heard is near silence\n{t}"
    );
    assert_eq!(
        rec.transcript.iter().filter(|(w, _)| w == "caller").count(),
        1,
        "{:?}",
        rec.transcript
    );
    assert_client_events_valid(&rec);
}
