//! Retention purge, messages and voicemails, on both backends.

use crate::store_support::{on_both, TestDb};
use chrono::{Duration, Utc};
use frontdesk::store::{NewMessage, NewVoicemail, PurgeReport, RecordRow, Store};

fn call(sid: &str, started_days_ago: i64) -> Vec<RecordRow> {
    let at = Utc::now() - Duration::days(started_days_ago);
    vec![
        RecordRow::CallStarted {
            transport: "twilio".into(),
            call_sid: sid.into(),
            business_number: "+15550100".into(),
            from_number: "+15550199".into(),
            to_number: "+15550100".into(),
            started_at: at,
        },
        RecordRow::Event {
            call_sid: sid.into(),
            seq: 1,
            kind: "transition".into(),
            payload: "{}".into(),
            at,
        },
        RecordRow::Turn {
            call_sid: sid.into(),
            seq: 1,
            speaker: "caller".into(),
            text: "hi".into(),
            at,
        },
        RecordRow::Turn {
            call_sid: sid.into(),
            seq: 2,
            speaker: "assistant".into(),
            text: "hello".into(),
            at,
        },
        RecordRow::Tool {
            call_sid: sid.into(),
            tool_call_id: "c1".into(),
            name: "take_message".into(),
            arguments: "{}".into(),
            result: "{}".into(),
            latency_ms: 3,
            at,
        },
        RecordRow::Inputs {
            call_sid: sid.into(),
            chunk: 0,
            body: "{\"v\":1,\"chunk\":0,\"first\":1,\"steps\":0}\n".into(),
            at,
        },
    ]
}

fn voicemail(sid: &str, recording_sid: &str) -> NewVoicemail {
    NewVoicemail {
        call_sid: sid.into(),
        recording_sid: recording_sid.into(),
        recording_url: format!("https://api.twilio.com/rec/{recording_sid}"),
        duration_secs: 42,
        transcript: Some("please call me back".into()),
        pending: false,
    }
}

#[tokio::test]
async fn purge_removes_old_transcripts_and_recordings_only() {
    on_both(|store: Store, db: TestDb| async move {
        store.write_batch(&call("OLD", 40)).await.unwrap();
        store.write_batch(&call("NEW", 1)).await.unwrap();
        let old_vm = store.add_voicemail(voicemail("OLD", "RE1")).await.unwrap();
        let new_vm = store.add_voicemail(voicemail("NEW", "RE2")).await.unwrap();
        // Voicemails are aged by when they were stored; make one old.
        db.raw_execute(&format!(
            "UPDATE voicemails SET created_at = '2000-01-01 00:00:00' WHERE id = {old_vm}"
        ))
        .await
        .unwrap();

        let report = store
            .purge_before(Utc::now() - Duration::days(30))
            .await
            .unwrap();
        assert_eq!(
            report,
            PurgeReport {
                transcript_turns: 2,
                voicemails: 1,
                flight_chunks: 1,
            },
            "{:?}",
            db.backend
        );

        let old = store.call_detail("OLD").await.unwrap().unwrap();
        assert!(old.transcript.is_empty());
        assert_eq!(old.timeline.len(), 1, "events are kept");
        assert_eq!(old.tools.len(), 1, "tool invocations are kept");
        assert_eq!(old.voicemails[0].recording_url, None);
        assert_eq!(old.voicemails[0].transcript, None);
        assert_eq!(old.voicemails[0].duration_secs, 42);
        let new = store.call_detail("NEW").await.unwrap().unwrap();
        assert_eq!(new.transcript.len(), 2);
        assert!(store.flight_chunks("OLD").await.unwrap().is_empty());
        assert_eq!(store.flight_chunks("NEW").await.unwrap().len(), 1);
        assert_eq!(new.voicemails[0].id, new_vm);
        assert!(new.voicemails[0].recording_url.is_some());

        assert_eq!(
            store
                .purge_before(Utc::now() - Duration::days(30))
                .await
                .unwrap(),
            PurgeReport::default()
        );
        db
    })
    .await;
}

#[tokio::test]
async fn voicemails_are_idempotent_by_recording_sid_and_messages_are_exported() {
    on_both(|store: Store, db: TestDb| async move {
        store.write_batch(&call("CA1", 0)).await.unwrap();
        let id = store.add_voicemail(voicemail("CA1", "RE1")).await.unwrap();
        let mut retry = voicemail("CA1", "RE1");
        retry.duration_secs = 7;
        assert_eq!(store.add_voicemail(retry).await.unwrap(), id);
        let msg = NewMessage {
            call_sid: Some("CA1".into()),
            business_number: "+15550100".into(),
            caller_name: "Ada".into(),
            callback_number: "+15550199".into(),
            subject: "Billing".into(),
            body: "Question about an invoice".into(),
            urgency: "normal".into(),
        };
        let m1 = store.add_message(msg.clone()).await.unwrap();
        let m2 = store
            .add_message(NewMessage {
                call_sid: None,
                ..msg
            })
            .await
            .unwrap();
        assert_ne!(m1, m2);
        let detail = store.call_detail("CA1").await.unwrap().unwrap();
        assert_eq!(detail.voicemails.len(), 1);
        assert_eq!(detail.voicemails[0].duration_secs, 42);
        assert_eq!(
            detail.messages.len(),
            1,
            "only the message taken on this call"
        );
        assert_eq!(detail.messages[0].subject, "Billing");
        db
    })
    .await;
}
