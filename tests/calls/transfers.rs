//! Transfers through the simulators: the model calls transfer_call, the call
//! leaves the stream with a <Dial>, and Twilio's DialCallStatus decides what
//! comes next — per the department's configuration.

use std::time::Duration;

use crate::common::*;
use frontdesk::config::business::OnNoAnswer;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::json;

fn script(after: Vec<ScriptTurn>) -> ModelScript {
    let mut turns = vec![ScriptTurn::Tool {
        caller: "Can I talk to someone at the front desk?".into(),
        name: "transfer_call".into(),
        arguments: json!({"department": "Front desk"}),
        reply_template: "Connecting you now.".into(),
    }];
    turns.extend(after);
    ModelScript {
        greeting: "Harbor Dental, how can I help?".into(),
        turns,
        audio_ms_per_char: 15,
        ..ModelScript::default()
    }
}

fn steps() -> Vec<CallerStep> {
    vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "transfer me".into(),
            audio: synth_speech(1000, 4),
        },
        CallerStep::WaitForClose { timeout_ms: 15_000 },
    ]
}

async fn outcome(rig: &Rig, sid: &str) -> serde_json::Value {
    for _ in 0..50 {
        rig.running
            .recorder
            .send(frontdesk::recorder::Flush {
                timeout: Duration::from_secs(5),
            })
            .await
            .unwrap();
        if let Some(d) = rig.running.store.call_detail(sid).await.unwrap() {
            let d = serde_json::to_value(&d).unwrap();
            if !d["outcome"].is_null() {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {sid} never ended on record");
}

#[actix_rt::test]
async fn an_answered_transfer_ends_the_call_as_transferred() {
    let rig = rig(script(vec![]), |c| {
        front_desk_always_open(c, OnNoAnswer::Voicemail)
    })
    .await;
    let mut c = caller(steps());
    c.dial_status = "completed".into();
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    let urls: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(urls, ["after-stream", "dial-status"], "{t}");
    let dial = &report.followups[0].twiml;
    assert!(
        dial.contains("<Number>+15551230100</Number>")
            && dial.contains("callerId=\"+15551230000\""),
        "{dial}"
    );
    assert!(
        dial.contains("timeout=\"20\"") && dial.contains("/twilio/dial-status"),
        "{dial}"
    );
    // The model's one-line goodbye played before the stream closed.
    assert_eq!(report.unplayed_at_close_ms, 0, "{t}");
    let d = outcome(&rig, &report.call_sid).await;
    assert_eq!(d["outcome"], "transferred", "{d:#}");
    assert!(d["failure_reason"].is_null(), "{d:#}");
}

#[actix_rt::test]
async fn a_busy_department_sends_the_caller_to_its_voicemail_and_the_reason_is_stored() {
    let rig = rig(script(vec![]), |c| {
        front_desk_always_open(c, OnNoAnswer::Voicemail)
    })
    .await;
    let mut c = caller(steps());
    c.dial_status = "busy".into();
    c.recording = Some(frontdesk_sim::caller::RecordingOutcome {
        recording_sid: "RE00000000000000000000000000000042".into(),
        recording_url: "http://127.0.0.1:9/2010-04-01/Accounts/AC0/Recordings/RE00000000000000000000000000000042".into(),
        duration_secs: 9,
    });
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    let urls: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    assert!(
        urls.starts_with(&["after-stream", "dial-status", "voicemail"]),
        "{t}"
    );
    assert!(
        report.followups[1]
            .twiml
            .contains("Please leave a message for Front desk"),
        "{}",
        report.followups[1].twiml
    );
    let d = outcome(&rig, &report.call_sid).await;
    assert_eq!(d["outcome"], "voicemail", "{d:#}");
    assert_eq!(d["failure_reason"], "transfer_busy", "{d:#}");
}

#[actix_rt::test]
async fn an_unanswered_transfer_can_come_back_to_the_assistant() {
    let after = vec![ScriptTurn::Reply {
        caller: "Okay, then a message.".into(),
        reply: "Sure, go ahead.".into(),
    }];
    let rig = rig(script(after), |c| {
        front_desk_always_open(c, OnNoAnswer::Assistant)
    })
    .await;
    let mut steps = steps();
    // Back on a fresh stream after the failed dial: the assistant speaks first.
    steps.push(CallerStep::WaitForAudio { timeout_ms: 10_000 });
    steps.push(wait_for_reply());
    steps.push(CallerStep::HangUp);
    let mut c = caller(steps);
    c.dial_status = "no-answer".into();
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    let urls: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(urls, ["after-stream", "dial-status"], "{t}");
    assert!(
        report.followups[1].twiml.contains("<Connect"),
        "{}",
        report.followups[1].twiml
    );
    // The resumed model was told the transfer failed, in its own session.
    let rec = rig.model.record();
    let told = rec
        .connections
        .iter()
        .flat_map(|c| &c.items_created)
        .any(|i| {
            i["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("was not answered (no-answer)"))
        });
    assert!(told, "{t}");
    assert!(rec.connections.len() >= 2, "{t}");
    let d = outcome(&rig, &report.call_sid).await;
    assert_eq!(d["failure_reason"], "transfer_no_answer", "{d:#}");
    assert_client_events_valid(&rec);
}
