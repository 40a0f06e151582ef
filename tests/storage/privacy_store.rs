//! A caller's data requests (export, erase) and retention per kind, on
//! both backends, with recordings deleted at the Twilio REST simulator.

use crate::store_support::{on_both, TestDb};
use chrono::{Duration, Utc};
use frontdesk::config::{Business, RetentionDays};
use frontdesk::privacy::requests::{self, RequestError};
use frontdesk::privacy::retention;
use frontdesk::store::{
    KnownCaller, NewAppointment, NewMessage, NewVoicemail, Notification, RecordRow, Store,
};
use frontdesk::twilio::rest::TwilioRest;
use frontdesk_sim::twilio_rest::{TwilioRestHandle, TwilioRestSim};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "sim-auth-token";
const BUSINESS: &str = "+15551230000";
const ADA: &str = "+15550100199";
const BOB: &str = "+15550100288";

fn call(sid: &str, from: &str, days_ago: i64) -> Vec<RecordRow> {
    let at = Utc::now() - Duration::days(days_ago);
    vec![
        RecordRow::CallStarted {
            transport: "twilio".into(),
            call_sid: sid.into(),
            business_number: BUSINESS.into(),
            from_number: from.into(),
            to_number: BUSINESS.into(),
            started_at: at,
        },
        RecordRow::Event {
            call_sid: sid.into(),
            seq: 1,
            kind: "started".into(),
            payload: "{}".into(),
            at,
        },
        RecordRow::Turn {
            call_sid: sid.into(),
            seq: 1,
            speaker: "caller".into(),
            text: "I'd like to book a cleaning".into(),
            at,
        },
        RecordRow::Tool {
            call_sid: sid.into(),
            tool_call_id: "c1".into(),
            name: "take_message".into(),
            arguments: r#"{"body":"call me"}"#.into(),
            result: r#"{"ok":true}"#.into(),
            latency_ms: 3,
            at,
        },
        // The flight record holds what was said too.
        RecordRow::Inputs {
            call_sid: sid.into(),
            chunk: 0,
            body: "{\"t\":1}\n".into(),
            at,
        },
        RecordRow::CallEnded {
            call_sid: sid.into(),
            ended_at: at,
            outcome: "caller_hung_up".into(),
            failure_reason: None,
        },
    ]
}

fn message(call_sid: Option<&str>, callback: &str) -> NewMessage {
    NewMessage {
        call_sid: call_sid.map(Into::into),
        business_number: BUSINESS.into(),
        caller_name: "Ada".into(),
        callback_number: callback.into(),
        subject: "Crown".into(),
        body: "It came off".into(),
        urgency: "normal".into(),
    }
}

fn voicemail(call_sid: &str, recording_sid: &str) -> NewVoicemail {
    NewVoicemail {
        call_sid: call_sid.into(),
        recording_sid: recording_sid.into(),
        recording_url: format!("https://api.twilio.com/rec/{recording_sid}"),
        duration_secs: 12,
        transcript: Some("please call back".into()),
        pending: false,
    }
}

fn business() -> Business {
    let mut b = frontdesk::config::BusinessConfig::sample().business;
    b.phone = BUSINESS.into();
    b
}

/// Two callers' worth of records: Ada (a call with everything, a standalone
/// message, a booking, a contact entry, an outbox item) and Bob (a call).
async fn seed(store: &Store, twilio: &TwilioRestHandle) {
    store.write_batch(&call("CA_ADA", ADA, 1)).await.unwrap();
    store.write_batch(&call("CA_BOB", BOB, 1)).await.unwrap();
    store
        .add_message(message(Some("CA_ADA"), ADA))
        .await
        .unwrap();
    store.add_message(message(None, ADA)).await.unwrap();
    store
        .add_message(message(Some("CA_BOB"), BOB))
        .await
        .unwrap();
    store
        .add_voicemail(voicemail("CA_ADA", "READA1"))
        .await
        .unwrap();
    store
        .add_voicemail(voicemail("CA_BOB", "REBOB1"))
        .await
        .unwrap();
    twilio.add_recording("READA1", vec![0; 44]);
    twilio.add_recording("REBOB1", vec![0; 44]);
    let start = Utc::now() + Duration::days(3);
    store
        .book_appointment(NewAppointment {
            business_number: BUSINESS.into(),
            starts_at: start,
            ends_at: start + Duration::minutes(30),
            name: "Ada".into(),
            phone: ADA.into(),
            purpose: "cleaning".into(),
        })
        .await
        .unwrap();
    let known = |phone: &str| KnownCaller {
        phone: phone.into(),
        name: "Known".into(),
        vip: false,
        notes: String::new(),
    };
    store
        .sync_contacts(&business(), &[known(ADA), known(BOB)])
        .await
        .unwrap();
    for to in [ADA, BOB] {
        let sms = Notification::Sms {
            to: to.into(),
            body: "Harbor Dental: your cleaning is booked".into(),
        };
        store.enqueue_notification(&sms, None).await.unwrap();
    }
}

fn rest(twilio: &TwilioRestHandle) -> TwilioRest {
    TwilioRest::new(ACCOUNT, TOKEN)
        .unwrap()
        .with_base_url(twilio.base_url())
}

#[actix_rt::test]
async fn export_then_erase_a_caller_and_leave_only_an_audit_row() {
    on_both(|store: Store, db: TestDb| async move {
        let twilio = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        seed(&store, &twilio).await;

        let export = requests::export(&store, "+1 (555) 010-0199").await.unwrap();
        assert_eq!(export.phone, ADA);
        assert_eq!(export.businesses.len(), 1, "{:?}", db.backend);
        let b = &export.businesses[0];
        assert_eq!(b.business_number, BUSINESS);
        assert_eq!(b.calls.len(), 1);
        assert_eq!(b.calls[0].transcript.len(), 1);
        assert_eq!(b.calls[0].tools.len(), 1);
        assert_eq!(b.calls[0].messages.len(), 1);
        assert_eq!(b.calls[0].voicemails.len(), 1);
        assert_eq!(b.messages.len(), 1, "the message not left on a call");
        assert_eq!(b.appointments.len(), 1);
        assert_eq!(b.contact.as_ref().map(|c| c.name.as_str()), Some("Known"));
        let json = serde_json::to_string(&export).unwrap();
        assert!(!json.contains(BOB), "nothing of another caller");

        let erased = requests::erase(&store, Some(&rest(&twilio)), ADA)
            .await
            .unwrap();
        let c = erased.counts;
        assert_eq!(
            (
                c.calls,
                c.transcript_turns,
                c.tool_runs,
                c.messages,
                c.voicemails
            ),
            (1, 1, 1, 2, 1)
        );
        assert_eq!((c.appointments, c.contacts, c.outbox), (1, 1, 1));
        assert_eq!(c.flight_chunks, 1, "the flight record goes too");
        assert!(store.flight_chunks("CA_ADA").await.unwrap().is_empty());
        assert_eq!(store.flight_chunks("CA_BOB").await.unwrap().len(), 1);
        assert_eq!(erased.recordings_deleted, 1);
        assert!(!twilio.has_recording("READA1"), "deleted at Twilio");
        assert!(twilio.has_recording("REBOB1"));
        assert!(twilio
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.ends_with("/Recordings/READA1.json")));

        assert!(store.call_detail("CA_ADA").await.unwrap().is_none());
        let bob = store.call_detail("CA_BOB").await.unwrap().unwrap();
        assert_eq!(
            (
                bob.transcript.len(),
                bob.messages.len(),
                bob.voicemails.len()
            ),
            (1, 1, 1)
        );
        assert!(store.find_contact(BUSINESS, BOB).await.unwrap().is_some());
        assert!(store.find_contact(BUSINESS, ADA).await.unwrap().is_none());
        assert!(matches!(
            requests::export(&store, ADA).await,
            Err(RequestError::UnknownCaller(_))
        ));

        let audit = store.privacy_requests(10).await.unwrap();
        let kinds: Vec<_> = audit.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["erase", "export"]);
        for row in &audit {
            assert_eq!(row.subject_hash, requests::subject_hash(ADA));
            assert!(!row.counts.contains("5550100199") && !row.subject_hash.contains("5550100199"));
        }
        let counts: serde_json::Value = serde_json::from_str(&audit[0].counts).unwrap();
        assert_eq!(counts["calls"], 1);

        // Again: nothing left, nothing changed, no second audit row.
        assert!(matches!(
            requests::erase(&store, Some(&rest(&twilio)), ADA).await,
            Err(RequestError::UnknownCaller(_))
        ));
        assert_eq!(store.privacy_requests(10).await.unwrap().len(), 2);
        twilio.stop().await;
        db
    })
    .await;
}

#[actix_rt::test]
async fn unknown_or_malformed_callers_change_nothing() {
    on_both(|store: Store, db: TestDb| async move {
        let twilio = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        seed(&store, &twilio).await;
        let before = serde_json::to_string(&store.caller_export(BOB).await.unwrap()).unwrap();
        for phone in ["+15550109999", "+4930123456"] {
            assert!(matches!(
                requests::export(&store, phone).await,
                Err(RequestError::UnknownCaller(_))
            ));
            assert!(matches!(
                requests::erase(&store, Some(&rest(&twilio)), phone).await,
                Err(RequestError::UnknownCaller(_))
            ));
        }
        for bad in [
            "",
            "555-0100",
            "+1 555 CALL NOW",
            "'; DROP TABLE calls; --",
            "+1%",
        ] {
            assert!(matches!(
                requests::erase(&store, Some(&rest(&twilio)), bad).await,
                Err(RequestError::BadPhone(_))
            ));
        }
        // Recordings exist but Twilio cannot be reached: refused before any row goes.
        assert!(matches!(
            requests::erase(&store, None, ADA).await,
            Err(RequestError::NoTwilio(1))
        ));
        twilio.stop().await;
        assert!(matches!(
            requests::erase(&store, Some(&rest(&twilio)), ADA).await,
            Err(RequestError::Twilio { .. })
        ));
        assert!(store.call_detail("CA_ADA").await.unwrap().is_some());
        let after = serde_json::to_string(&store.caller_export(BOB).await.unwrap()).unwrap();
        // exported_at differs; compare the records.
        assert_eq!(
            before.split("\"businesses\"").nth(1),
            after.split("\"businesses\"").nth(1)
        );
        assert!(store.privacy_requests(10).await.unwrap().is_empty());
        db
    })
    .await;
}

#[actix_rt::test]
async fn retention_per_kind_and_recordings_deleted_at_twilio() {
    on_both(|store: Store, db: TestDb| async move {
        let twilio = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        store.write_batch(&call("OLD", ADA, 40)).await.unwrap();
        store.write_batch(&call("ANCIENT", ADA, 400)).await.unwrap();
        store.write_batch(&call("NEW", BOB, 1)).await.unwrap();
        let old_vm = store
            .add_voicemail(voicemail("OLD", "REOLD1"))
            .await
            .unwrap();
        store
            .add_voicemail(voicemail("NEW", "RENEW1"))
            .await
            .unwrap();
        twilio.add_recording("REOLD1", vec![0; 44]);
        twilio.add_recording("RENEW1", vec![0; 44]);
        let old_msg = store.add_message(message(Some("OLD"), ADA)).await.unwrap();
        store.add_message(message(Some("NEW"), BOB)).await.unwrap();
        db.raw_execute(&format!(
            "UPDATE voicemails SET created_at = '2000-01-01 00:00:00' WHERE id = {old_vm}"
        ))
        .await
        .unwrap();
        db.raw_execute(&format!(
            "UPDATE messages SET created_at = '2000-01-01 00:00:00' WHERE id = {old_msg}"
        ))
        .await
        .unwrap();

        let days = RetentionDays {
            transcripts: 30,
            recordings: 30,
            voicemails: 0,
            messages: 60,
            call_metadata: 365,
        };
        let r = retention::purge(&store, Some(&rest(&twilio)), days, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            (
                r.transcript_turns,
                r.tool_runs_blanked,
                r.recordings,
                r.messages,
                r.calls
            ),
            (2, 2, 1, 1, 1),
            "{:?}",
            db.backend
        );
        assert_eq!(
            r.voicemail_transcripts, 0,
            "voicemail transcripts kept (0 days)"
        );
        assert!(
            r.flight_chunks >= 1,
            "old flight records go with transcripts: {r:?}"
        );
        assert!(!twilio.has_recording("REOLD1"));
        assert!(twilio.has_recording("RENEW1"));
        assert!(store.call_detail("ANCIENT").await.unwrap().is_none());
        let old = store.call_detail("OLD").await.unwrap().unwrap();
        assert!(old.transcript.is_empty());
        assert_eq!(old.tools[0].arguments, "{}");
        assert_eq!(old.voicemails[0].recording_url, None);
        assert!(old.voicemails[0].transcript.is_some());
        assert!(old.messages.is_empty(), "the old message went");
        let new = store.call_detail("NEW").await.unwrap().unwrap();
        assert_eq!((new.transcript.len(), new.messages.len()), (1, 1));
        assert!(new.voicemails[0].recording_url.is_some());

        let again = retention::purge(&store, Some(&rest(&twilio)), days, Utc::now())
            .await
            .unwrap();
        assert_eq!(again.total(), 0);
        twilio.stop().await;
        db
    })
    .await;
}
