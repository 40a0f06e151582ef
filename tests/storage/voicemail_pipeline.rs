//! The voicemail pipeline against the Twilio REST stand-in and the
//! transcription simulator, on PostgreSQL and SQLite: the happy path with the
//! department from the call's record, repeats, and every way a remote step
//! can fail without losing the voicemail.

use std::sync::Arc;
use std::time::Duration;

use crate::store_support::TestDb;
use crate::voicemail_common::*;
use frontdesk::call::{CallRecord, Decision};
use frontdesk::config::Config;
use frontdesk::recorder::Numbering;
use frontdesk::store::Store;
use frontdesk::voicemail::{
    RecordingCallback, RetryPolicy, TranscriptStatus, VoicemailError, Voicemails,
};
use frontdesk_sim::audio::{mulaw_to_wav, synth_speech};
use frontdesk_sim::caller::new_sid;
use frontdesk_sim::transcription::{TranscriptionScript, TranscriptionSim};
use frontdesk_sim::twilio_rest::{TwilioRestHandle, TwilioRestSim};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "rest-token";
const KEY: &str = "sk-voicemail";
const CALLER: &str = "+15005550006";

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(40),
    }
}

fn pipeline(store: &Store, config: Config) -> Voicemails {
    Voicemails::new(store.clone(), Arc::new(config))
        .with_retries(quick(3), quick(2), quick(2))
        .with_record_grace(Duration::from_millis(100))
}

fn config(db: &TestDb, rest: &TwilioRestHandle, stt_base: &str) -> Config {
    let mut c = Config::default();
    c.twilio.account_sid = ACCOUNT.into();
    c.twilio.auth_token = Some(TOKEN.into());
    c.realtime.api_key = Some(KEY.into());
    point_at_sims(&mut c, &db.url, rest, stt_base);
    c
}

fn callback(
    rest: &TwilioRestHandle,
    call_sid: &str,
    recording_sid: &str,
    status: &str,
) -> RecordingCallback {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT.to_owned()),
        ("CallSid", call_sid.to_owned()),
        ("RecordingSid", recording_sid.to_owned()),
        (
            "RecordingUrl",
            format!(
                "{}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}",
                rest.base_url()
            ),
        ),
        ("RecordingStatus", status.to_owned()),
        ("RecordingDuration", "6".to_owned()),
        ("RecordingChannels", "1".to_owned()),
        ("RecordingSource", "RecordVerb".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    RecordingCallback::from_params(&params).unwrap()
}

/// The call's rows as the recorder writes them: started, then a voicemail decision.
async fn seed_call(store: &Store, call_sid: &str, department: Option<&str>) {
    let mut numbering = Numbering::default();
    let now = chrono::Utc::now();
    let mut rows = numbering.rows(
        call_sid,
        now,
        CallRecord::Started {
            transport: frontdesk_core::Transport::Twilio,
            from: CALLER.into(),
            to: "+15551230000".into(),
        },
    );
    rows.extend(numbering.rows(
        call_sid,
        now,
        CallRecord::Decision(Decision::Voicemail {
            department: department.map(str::to_owned),
        }),
    ));
    store.write_batch(&rows).await.unwrap();
}

async fn sims(recording: Option<(&str, Vec<u8>)>) -> TwilioRestHandle {
    let rest = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
    if let Some((sid, wav)) = recording {
        rest.add_recording(sid, wav);
    }
    rest
}

fn recording_fetches(rest: &TwilioRestHandle) -> Vec<frontdesk_sim::twilio_rest::RecordedRequest> {
    rest.requests()
        .into_iter()
        .filter(|r| r.path.contains("/Recordings/"))
        .collect()
}

fn email(rows: &[OutboxRow]) -> serde_json::Value {
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, "email");
    let n = rows[0].json();
    assert_eq!(n["to"], serde_json::json!([STAFF]));
    n
}

#[actix_rt::test]
async fn a_voicemail_is_stored_before_it_is_transcribed_and_a_crash_in_between_loses_nothing() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        let wav = mulaw_to_wav(&synth_speech(2500, 4));
        let rest = sims(Some((&rec, wav))).await;
        let stt = TranscriptionSim::start(TranscriptionScript {
            api_key: Some(KEY.into()),
            text: TRANSCRIPT.into(),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        seed_call(&store, &call, Some("Billing")).await;
        let c = config(&db, &rest, &stt.base_url());
        let cb = callback(&rest, &call, &rec, "completed");

        // What the webhook does before it answers Twilio…
        let completed = frontdesk::voicemail::accept(store.clone(), Arc::new(c.clone()), &cb)
            .await
            .unwrap();
        assert!(completed);
        // …and then the instance dies: the voicemail is on record, pending,
        // nothing was downloaded, transcribed or notified yet.
        let stored = store.call_detail(&call).await.unwrap().unwrap().voicemails;
        assert_eq!(stored.len(), 1);
        assert!(stored[0].pending);
        assert_eq!(stored[0].transcript, None);
        assert_eq!(stored[0].duration_secs, 6);
        assert!(recording_fetches(&rest).is_empty());
        assert!(outbox(&db.url).await.is_empty());
        // Not stale yet: recovery leaves it to the instance that took it.
        let vm = pipeline(&store, c.clone());
        assert_eq!(vm.recover(Duration::from_secs(3600)).await.unwrap(), 0);

        // Another instance finishes what was left pending.
        assert_eq!(vm.recover(Duration::ZERO).await.unwrap(), 1);
        let stored = wait_for_voicemail(&store, &call).await;
        assert!(!stored[0].pending);
        assert_eq!(stored[0].transcript.as_deref(), Some(TRANSCRIPT));
        let n = email(&notifications_for(&db.url, &rec, 1).await);
        assert!(n["body"].as_str().unwrap().contains(TRANSCRIPT));
        // Finished means finished: nothing left to recover, nothing redone.
        assert_eq!(vm.recover(Duration::ZERO).await.unwrap(), 0);
        assert_eq!(recording_fetches(&rest).len(), 1);
        assert_eq!(stt.requests().len(), 1);
        rest.stop().await;
        stt.stop().await;
    }
}

#[actix_rt::test]
async fn a_transcribed_voicemail_names_its_department_and_a_repeat_changes_nothing() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        let wav = mulaw_to_wav(&synth_speech(2500, 4));
        let rest = sims(Some((&rec, wav.clone()))).await;
        let stt = TranscriptionSim::start(TranscriptionScript {
            api_key: Some(KEY.into()),
            model: Some("gpt-4o-transcribe".into()),
            text: TRANSCRIPT.into(),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        seed_call(&store, &call, Some("Billing")).await;
        let vm = pipeline(&store, config(&db, &rest, &stt.base_url()));
        let cb = callback(&rest, &call, &rec, "completed");

        let first = vm.process(&cb).await.unwrap();
        assert_eq!(first.status, TranscriptStatus::Transcribed);
        assert_eq!(first.transcript.as_deref(), Some(TRANSCRIPT));
        assert_eq!(first.department.as_deref(), Some("Billing"));
        assert_eq!(first.notifications, 1);

        let fetches = recording_fetches(&rest);
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].method, "GET");
        assert_eq!(
            fetches[0].path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/{rec}.wav")
        );
        assert_eq!(
            fetches[0].authorization.as_deref(),
            Some(basic_auth(ACCOUNT, TOKEN).as_str())
        );
        let heard = stt.requests();
        assert_eq!(heard.len(), 1);
        assert_eq!(heard[0].file, wav);
        assert_eq!(
            heard[0].authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );

        let stored = wait_for_voicemail(&store, &call).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].transcript.as_deref(), Some(TRANSCRIPT));
        assert_eq!(stored[0].duration_secs, 6);
        assert_eq!(
            stored[0].recording_url.as_deref(),
            Some(cb.recording_url.as_str())
        );
        let n = email(&notifications_for(&db.url, &rec, 1).await);
        assert_eq!(n["subject"], format!("Voicemail for Billing from {CALLER}"));
        let body = n["body"].as_str().unwrap();
        assert!(body.contains(TRANSCRIPT), "{body}");
        assert!(body.contains(&cb.recording_url), "{body}");

        let again = vm.process(&cb).await.unwrap();
        assert_eq!(again.status, TranscriptStatus::AlreadyStored);
        assert_eq!(again.voicemail_id, first.voicemail_id);
        assert_eq!(again.notifications, 0);
        assert_eq!(again.transcript.as_deref(), Some(TRANSCRIPT));
        assert_eq!(
            recording_fetches(&rest).len(),
            1,
            "nothing downloaded twice"
        );
        assert_eq!(stt.requests().len(), 1, "nothing transcribed twice");
        assert_eq!(wait_for_voicemail(&store, &call).await.len(), 1);
        assert_eq!(outbox(&db.url).await.len(), 1);
        rest.stop().await;
        stt.stop().await;
    }
}

#[actix_rt::test]
async fn a_recording_that_cannot_be_downloaded_is_retried_then_stored_with_its_url() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        // Nothing registered: Twilio answers 404, which a fresh recording can do.
        let rest = sims(None).await;
        let stt = TranscriptionSim::start(TranscriptionScript::default())
            .await
            .unwrap();
        let vm = pipeline(&store, config(&db, &rest, &stt.base_url()));
        let cb = callback(&rest, &call, &rec, "completed");

        let done = vm.process(&cb).await.unwrap();
        assert!(
            matches!(&done.status, TranscriptStatus::FetchFailed(r) if r.contains("404")),
            "{:?}",
            done.status
        );
        assert_eq!(done.transcript, None);
        assert_eq!(done.department, None, "the call is not in the store");
        let fetches = recording_fetches(&rest);
        assert_eq!(fetches.len(), 3, "three tries");
        assert!(fetches
            .iter()
            .all(|f| f.authorization.as_deref() == Some(basic_auth(ACCOUNT, TOKEN).as_str())));
        assert!(stt.requests().is_empty());

        let stored = voicemail_rows(&db.url).await;
        assert_eq!(
            stored,
            [VoicemailRow {
                call_sid: call.clone(),
                recording_url: Some(cb.recording_url.clone()),
                transcript: None,
            }]
        );
        let n = email(&notifications_for(&db.url, &rec, 1).await);
        assert_eq!(n["subject"], "Voicemail from an unknown number");
        let body = n["body"].as_str().unwrap();
        assert!(body.contains("(no transcript)"), "{body}");
        assert!(body.contains(&cb.recording_url), "{body}");
        rest.stop().await;
        stt.stop().await;
    }
}

#[actix_rt::test]
async fn wrong_twilio_credentials_are_not_retried() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        let rest = sims(Some((&rec, mulaw_to_wav(&synth_speech(800, 1))))).await;
        let stt = TranscriptionSim::start(TranscriptionScript::default())
            .await
            .unwrap();
        let mut c = config(&db, &rest, &stt.base_url());
        c.twilio.auth_token = Some("not-the-token".into());
        seed_call(&store, &call, None).await;
        let done = pipeline(&store, c)
            .process(&callback(&rest, &call, &rec, "completed"))
            .await
            .unwrap();
        assert!(
            matches!(&done.status, TranscriptStatus::FetchFailed(r) if r.contains("401")),
            "{:?}",
            done.status
        );
        assert_eq!(recording_fetches(&rest).len(), 1);
        assert_eq!(wait_for_voicemail(&store, &call).await[0].transcript, None);
        let n = email(&notifications_for(&db.url, &rec, 1).await);
        assert_eq!(n["subject"], format!("Voicemail from {CALLER}"));
        rest.stop().await;
        stt.stop().await;
    }
}

#[actix_rt::test]
async fn a_transcription_service_that_is_down_or_failing_costs_only_the_transcript() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let wav = mulaw_to_wav(&synth_speech(1200, 2));

        // Nothing listening at the base URL.
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        let rest = sims(Some((&rec, wav.clone()))).await;
        seed_call(&store, &call, None).await;
        let done = pipeline(&store, config(&db, &rest, &dead_base_url()))
            .process(&callback(&rest, &call, &rec, "completed"))
            .await
            .unwrap();
        assert!(
            matches!(&done.status, TranscriptStatus::TranscriptionFailed(r) if r.contains("unreachable")),
            "{:?}",
            done.status
        );
        assert_eq!(wait_for_voicemail(&store, &call).await[0].transcript, None);
        assert_eq!(notifications_for(&db.url, &rec, 1).await.len(), 1);

        // Answering 500: tried twice, then given up.
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        rest.add_recording(&rec, wav);
        seed_call(&store, &call, None).await;
        let stt = TranscriptionSim::start(TranscriptionScript {
            fail_with: Some(500),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        let done = pipeline(&store, config(&db, &rest, &stt.base_url()))
            .process(&callback(&rest, &call, &rec, "completed"))
            .await
            .unwrap();
        assert!(
            matches!(&done.status, TranscriptStatus::TranscriptionFailed(r) if r.contains("HTTP 500")),
            "{:?}",
            done.status
        );
        let statuses: Vec<u16> = stt.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500]);
        assert_eq!(wait_for_voicemail(&store, &call).await[0].transcript, None);
        let n = email(&notifications_for(&db.url, &rec, 1).await);
        assert!(n["body"].as_str().unwrap().contains("(no transcript)"));

        // An empty transcript is stored as none.
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        rest.add_recording(&rec, mulaw_to_wav(&synth_speech(300, 5)));
        seed_call(&store, &call, None).await;
        stt.set_failure(None);
        stt.set_text("  ");
        let done = pipeline(&store, config(&db, &rest, &stt.base_url()))
            .process(&callback(&rest, &call, &rec, "completed"))
            .await
            .unwrap();
        assert_eq!(done.status, TranscriptStatus::Empty);
        assert_eq!(wait_for_voicemail(&store, &call).await[0].transcript, None);
        rest.stop().await;
        stt.stop().await;
    }
}

#[actix_rt::test]
async fn a_callback_without_a_recording_stores_nothing() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let (call, rec) = (new_sid("CA"), new_sid("RE"));
        let rest = sims(None).await;
        let c = config(&db, &rest, &dead_base_url());
        for status in ["absent", "in-progress"] {
            let cb = callback(&rest, &call, &rec, status);
            let err = pipeline(&store, c.clone()).process(&cb).await.unwrap_err();
            assert!(
                matches!(err, VoicemailError::NotCompleted(ref s) if s == status),
                "{err}"
            );
            let completed = frontdesk::voicemail::accept(store.clone(), Arc::new(c.clone()), &cb)
                .await
                .unwrap();
            assert!(!completed, "nothing to process for {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(rest.requests().is_empty());
        assert!(outbox(&db.url).await.is_empty());
        assert!(store.call_detail(&call).await.unwrap().is_none());
        rest.stop().await;
    }
}
