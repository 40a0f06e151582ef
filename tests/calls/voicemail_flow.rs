//! Voicemail end to end over real sockets, on PostgreSQL and SQLite: the
//! model is down, the caller lands in the keypad menu, leaves a voicemail,
//! and Twilio (the caller simulator) posts the recording callback. The
//! engine downloads the recording from the Twilio REST stand-in, has the
//! transcription simulator transcribe it, stores it and queues the
//! notification. Repeats and forgeries of the callback change nothing.

use std::time::Duration;

use crate::common::{caller, rig, Rig};
use crate::store_support::TestDb;
use crate::voicemail_common::*;
use frontdesk::simulate::{SIM_API_KEY, SIM_AUTH_TOKEN, SIM_CALLER};
use frontdesk::twilio::signature::{compute, Algorithm, SIGNATURE_HEADER};
use frontdesk_sim::audio::{mulaw_to_wav, synth_speech};
use frontdesk_sim::caller::{
    new_sid, place_call, CallReport, CallerStep, MenuInput, RecordingOutcome, DEFAULT_ACCOUNT_SID,
};
use frontdesk_sim::model::{ConnectionBehavior, ModelScript};
use frontdesk_sim::transcription::{TranscriptionScript, TranscriptionSim};
use frontdesk_sim::twilio_rest::{TwilioRestHandle, TwilioRestSim};

fn dead_model() -> ModelScript {
    ModelScript {
        then: ConnectionBehavior::RejectHandshake { status: 503 },
        ..ModelScript::default()
    }
}

/// A caller who reaches the menu and does `menu_input`, then leaves a
/// recording the REST stand-in serves.
async fn leave_voicemail(
    rig: &Rig,
    rest: &TwilioRestHandle,
    menu_input: &str,
    dial_status: &str,
) -> (CallReport, String, Vec<u8>) {
    let recording_sid = new_sid("RE");
    let wav = mulaw_to_wav(&synth_speech(3000, 11));
    rest.add_recording(&recording_sid, wav.clone());
    let mut c = caller(vec![CallerStep::WaitForClose { timeout_ms: 15_000 }]);
    c.menu_input = vec![MenuInput::Digits(menu_input.into())];
    c.dial_status = dial_status.into();
    c.recording = Some(RecordingOutcome {
        recording_sid: recording_sid.clone(),
        recording_url: format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Recordings/{recording_sid}",
            rest.base_url()
        ),
        duration_secs: 3,
    });
    let report = place_call(&rig.base, c).await.unwrap();
    let t = report.timeline_text();
    let last = report.followups.last().expect("followups");
    assert!(last.url.ends_with("/twilio/recording-status"), "{t}");
    assert_eq!(last.status, 200, "{t}");
    let record_twiml = &report.followups[report.followups.len() - 3].twiml;
    assert!(
        record_twiml.contains(&format!(
            r#"recordingStatusCallback="{}/twilio/recording-status""#,
            rig.base
        )),
        "{record_twiml}"
    );
    (report, recording_sid, wav)
}

fn recording_fetches(rest: &TwilioRestHandle) -> usize {
    rest.requests()
        .iter()
        .filter(|r| r.path.contains("/Recordings/"))
        .count()
}

async fn post_signed(rig: &Rig, params: &[(String, String)], signature: Option<String>) -> u16 {
    let url = format!("{}/twilio/recording-status", rig.base);
    let signature =
        signature.unwrap_or_else(|| compute(SIM_AUTH_TOKEN, &url, params, Algorithm::HmacSha1));
    reqwest::Client::new()
        .post(&url)
        .header(SIGNATURE_HEADER, signature)
        .form(params)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn voicemail_is_fetched_transcribed_stored_and_notified(db: TestDb) {
    let rest = TwilioRestSim::start(DEFAULT_ACCOUNT_SID, SIM_AUTH_TOKEN)
        .await
        .unwrap();
    let stt = TranscriptionSim::start(TranscriptionScript {
        api_key: Some(SIM_API_KEY.into()),
        model: Some("gpt-4o-transcribe".into()),
        text: TRANSCRIPT.into(),
        ..TranscriptionScript::default()
    })
    .await
    .unwrap();
    let rig = rig(dead_model(), |c| {
        point_at_sims(c, &db.url, &rest, &stt.base_url())
    })
    .await;
    let (report, rec, wav) = leave_voicemail(&rig, &rest, "2", "completed").await;
    let t = report.timeline_text();
    let paths: Vec<&str> = report
        .followups
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["after-stream", "menu", "voicemail", "recording-status"],
        "{t}"
    );

    let store = &rig.running.store;
    let stored = wait_for_voicemail(store, &report.call_sid).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recording_sid, rec);
    assert_eq!(stored[0].duration_secs, 3);
    assert_eq!(stored[0].transcript.as_deref(), Some(TRANSCRIPT));

    // The REST stand-in saw one authenticated download of the WAV...
    let fetches: Vec<_> = rest
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/Recordings/"))
        .collect();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert_eq!(
        fetches[0].path,
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Recordings/{rec}.wav")
    );
    assert_eq!(
        fetches[0].authorization.as_deref(),
        Some(basic_auth(DEFAULT_ACCOUNT_SID, SIM_AUTH_TOKEN).as_str())
    );
    // ...and the transcription service got exactly those bytes.
    let heard = stt.requests();
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].status, 200);
    assert_eq!(heard[0].file, wav);
    assert_eq!(heard[0].model.as_deref(), Some("gpt-4o-transcribe"));
    assert_eq!(heard[0].response_format.as_deref(), Some("json"));

    let rows = notifications_for(&db.url, &rec, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, "email");
    let n = rows[0].json();
    assert_eq!(n["to"], serde_json::json!([STAFF]));
    assert_eq!(n["subject"], format!("Voicemail from {SIM_CALLER}"));
    let body = n["body"].as_str().unwrap();
    assert!(body.contains(TRANSCRIPT), "{body}");
    assert!(body.contains("(3 s)"), "{body}");

    // Twilio retries the callback: the same request, and one that differs
    // in a detail (so the webhook memory does not catch it), then a forgery.
    let params = report.followups.last().unwrap().params.clone();
    assert_eq!(post_signed(&rig, &params, None).await, 200);
    let mut changed = params.clone();
    for (k, v) in &mut changed {
        if k == "RecordingStartTime" {
            v.push(' ');
        }
    }
    assert_eq!(post_signed(&rig, &changed, None).await, 200);
    assert_eq!(
        post_signed(&rig, &params, Some("bm90IGEgc2lnbmF0dXJl".into())).await,
        403
    );
    let mut no_recording_sid = params.clone();
    no_recording_sid.retain(|(k, _)| k != "RecordingSid");
    assert_eq!(
        post_signed(&rig, &no_recording_sid, None).await,
        400,
        "no RecordingSid"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(recording_fetches(&rest), 1, "nothing downloaded again");
    assert_eq!(stt.requests().len(), 1, "nothing transcribed again");
    assert_eq!(wait_for_voicemail(store, &report.call_sid).await.len(), 1);
    assert_eq!(outbox(&db.url).await.len(), 1, "nothing notified twice");
    rest.stop().await;
    stt.stop().await;
}

async fn transcription_down_still_stores_and_notifies(db: TestDb) {
    let rest = TwilioRestSim::start(DEFAULT_ACCOUNT_SID, SIM_AUTH_TOKEN)
        .await
        .unwrap();
    let stt = TranscriptionSim::start(TranscriptionScript {
        api_key: Some(SIM_API_KEY.into()),
        fail_with: Some(503),
        ..TranscriptionScript::default()
    })
    .await
    .unwrap();
    let rig = rig(dead_model(), |c| {
        point_at_sims(c, &db.url, &rest, &stt.base_url())
    })
    .await;
    // The operator: closed now, or not answering; either way the Front desk's voicemail.
    let (report, rec, _) = leave_voicemail(&rig, &rest, "0", "no-answer").await;
    let t = report.timeline_text();
    assert!(
        report
            .followups
            .iter()
            .any(|f| f.twiml.contains("Please leave a message for Front desk")),
        "{t}"
    );

    let stored = wait_for_voicemail(&rig.running.store, &report.call_sid).await;
    assert_eq!(stored[0].transcript, None);
    assert_eq!(stored[0].recording_sid, rec);
    let rows = notifications_for(&db.url, &rec, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = rows[0].json();
    assert_eq!(
        n["subject"],
        format!("Voicemail for Front desk from {SIM_CALLER}")
    );
    let body = n["body"].as_str().unwrap();
    assert!(body.contains("(no transcript)"), "{body}");
    assert!(
        body.contains(&rec),
        "the recording URL is in the notification: {body}"
    );
    assert_eq!(recording_fetches(&rest), 1);
    let statuses: Vec<u16> = stt.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503], "one retry, then without a transcript");
    rest.stop().await;
    stt.stop().await;
}

#[actix_rt::test]
async fn voicemail_end_to_end_on_sqlite() {
    voicemail_is_fetched_transcribed_stored_and_notified(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn voicemail_end_to_end_on_postgres() {
    voicemail_is_fetched_transcribed_stored_and_notified(TestDb::postgres().await).await;
}

#[actix_rt::test]
async fn transcription_down_on_sqlite() {
    transcription_down_still_stores_and_notifies(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn transcription_down_on_postgres() {
    transcription_down_still_stores_and_notifies(TestDb::postgres().await).await;
}
