//! Calls parked after the conversation (menu, voicemail prompt, ringing
//! transfer) end when Twilio says the call is over — the number's call
//! status callback — not at `max_call_secs`.

use crate::common::*;
use frontdesk_sim::caller::{place_call, CallerStep, MenuInput};
use frontdesk_sim::model::{ConnectionBehavior, ModelScript};

/// Menu reached because the model is down; the caller hangs up there.
async fn hang_up_in_the_menu(status_callback: bool) -> (Rig, String) {
    let script = ModelScript {
        then: ConnectionBehavior::RejectHandshake { status: 503 },
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;
    let mut c = caller(vec![CallerStep::WaitForClose { timeout_ms: 15_000 }]);
    c.menu_input = vec![MenuInput::Digits("1".into()), MenuInput::HangUp];
    if status_callback {
        c.status_callback = Some("/twilio/call-status".into());
    }
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    let urls: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    let mut want = vec!["after-stream", "menu"];
    if status_callback {
        want.push("call-status");
    }
    assert_eq!(urls, want, "{t}");
    (rig, report.call_sid)
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_in_the_menu_is_closed_by_the_status_callback() {
    let (rig, sid) = hang_up_in_the_menu(true).await;
    assert!(
        rig.wait_for_metric("frontdesk_calls_total{outcome=\"caller_hung_up\"} 1")
            .await,
        "{}",
        rig.metrics().await
    );
    assert!(rig.wait_for_metric("frontdesk_active_calls 0").await);
    rig.flush_records().await;
    let detail = rig.running.store.call_detail(&sid).await.unwrap().unwrap();
    assert_eq!(detail.call.outcome.as_deref(), Some("caller_hung_up"));
    assert!(detail.call.ended_at.is_some(), "{detail:?}");
    let causes = transition_causes(&detail);
    assert!(
        causes.iter().any(|c| c == "call completed at Twilio"),
        "{causes:?}"
    );
}

#[actix_rt::test]
async fn without_the_status_callback_a_call_left_in_the_menu_stays_parked_but_holds_no_drain() {
    let (rig, sid) = hang_up_in_the_menu(false).await;
    // Still parked in the menu: counted live, but not in conversation, so
    // a drain does not wait for it.
    assert!(rig.wait_for_metric("frontdesk_active_calls 1").await);
    assert_eq!(rig.running.calls.in_conversation().await, 0);
    let detail = rig.running.store.call_detail(&sid).await.unwrap().unwrap();
    assert!(detail.call.ended_at.is_none(), "{detail:?}");
}

#[actix_rt::test]
async fn a_status_callback_for_an_unknown_or_finished_call_is_acknowledged() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let report = place_call(&rig.base, {
        let mut c = caller(vec![
            CallerStep::WaitForAudio { timeout_ms: 10_000 },
            CallerStep::HangUp,
        ]);
        c.status_callback = Some("/twilio/call-status".into());
        c
    })
    .await
    .unwrap();
    let status = report.followups.last().expect("status callback sent");
    assert!(status.url.ends_with("/twilio/call-status"), "{status:?}");
    assert_eq!(status.status, 200, "{status:?}");
    assert!(
        rig.wait_for_metric("frontdesk_calls_total{outcome=\"caller_hung_up\"} 1")
            .await
    );
    // The stream's stop ended it first; the callback changes nothing.
    let metrics = rig.metrics().await;
    assert!(
        !metrics.contains("frontdesk_unexpected_events_total 1"),
        "{metrics}"
    );

    // A call no instance has heard of: acknowledged, nothing else.
    let url = format!("{}/twilio/call-status", rig.base);
    let params: Vec<(String, String)> = [
        ("CallSid", "CA0000000000000000000000000000beef"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15005550006"),
        ("To", "+15551230000"),
        ("CallStatus", "no-answer"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = frontdesk::twilio::signature::compute(
        frontdesk::simulate::SIM_AUTH_TOKEN,
        &url,
        &params,
        frontdesk::twilio::signature::Algorithm::HmacSha1,
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Unsigned: refused like every other webhook.
    let resp = reqwest::Client::new()
        .post(&url)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}
