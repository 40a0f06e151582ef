//! The recorder's write path and the read side, on both backends.

use crate::store_support::{on_both, TestDb};
use chrono::{DateTime, Duration, TimeZone, Utc};
use frontdesk::store::{RecordRow, RowCounts, Store, StoreError, Usage};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap() + Duration::seconds(secs)
}

fn started(sid: &str, at: DateTime<Utc>) -> RecordRow {
    RecordRow::CallStarted {
        transport: "twilio".into(),
        call_sid: sid.into(),
        business_number: "+15550100".into(),
        from_number: "+15550199".into(),
        to_number: "+15550100".into(),
        started_at: at,
    }
}

fn event(sid: &str, seq: i64, kind: &str, payload: &str) -> RecordRow {
    RecordRow::Event {
        call_sid: sid.into(),
        seq,
        kind: kind.into(),
        payload: payload.into(),
        at: t(seq),
    }
}

fn turn(sid: &str, seq: i64, speaker: &str, text: &str) -> RecordRow {
    RecordRow::Turn {
        call_sid: sid.into(),
        seq,
        speaker: speaker.into(),
        text: text.into(),
        at: t(seq),
    }
}

fn usage(sid: &str, response_id: &str, n: i64) -> RecordRow {
    RecordRow::Usage {
        call_sid: sid.into(),
        response_id: response_id.into(),
        input_tokens: n,
        output_tokens: 2 * n,
        input_audio_tokens: 3 * n,
        output_audio_tokens: 4 * n,
        cached_tokens: 5 * n,
        at: t(30),
    }
}

/// A complete small call.
fn call_batch(sid: &str) -> Vec<RecordRow> {
    vec![
        started(sid, t(0)),
        event(
            sid,
            1,
            "transition",
            r#"{"from":"ringing","to":"greeting","cause":"stream start"}"#,
        ),
        event(
            sid,
            2,
            "transition",
            r#"{"from":"greeting","to":"conversation","cause":"greeted"}"#,
        ),
        turn(sid, 1, "assistant", "Thanks for calling, how can I help?"),
        turn(sid, 2, "caller", "I'd like to book a cleaning."),
        RecordRow::Tool {
            call_sid: sid.into(),
            tool_call_id: "call_1".into(),
            name: "book_appointment".into(),
            arguments: r#"{"day":"Friday"}"#.into(),
            result: r#"{"ok":true}"#.into(),
            latency_ms: 84,
            at: t(20),
        },
        usage(sid, "resp_1", 10),
        usage(sid, "resp_2", 1),
        event(
            sid,
            3,
            "transition",
            r#"{"from":"conversation","to":"ended","cause":"caller hung up"}"#,
        ),
        RecordRow::CallEnded {
            call_sid: sid.into(),
            ended_at: t(60),
            outcome: "completed".into(),
            failure_reason: None,
        },
    ]
}

fn expected_usage() -> Usage {
    Usage {
        input_tokens: 11,
        output_tokens: 22,
        input_audio_tokens: 33,
        output_audio_tokens: 44,
        cached_tokens: 55,
    }
}

#[tokio::test]
async fn a_call_is_written_and_exported_whole() {
    on_both(|store: Store, db: TestDb| async move {
        store.write_batch(&call_batch("CA1")).await.unwrap();
        let detail = store.call_detail("CA1").await.unwrap().unwrap();
        assert_eq!(detail.call.from_number, "+15550199");
        assert_eq!(detail.call.started_at, t(0));
        assert_eq!(detail.call.ended_at, Some(t(60)));
        assert_eq!(detail.call.outcome.as_deref(), Some("completed"));
        assert_eq!(detail.call.usage, expected_usage());
        assert_eq!(
            detail.timeline.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(detail.timeline[2].payload["to"], "ended");
        assert_eq!(detail.transcript.len(), 2);
        assert_eq!(detail.transcript[1].text, "I'd like to book a cleaning.");
        assert_eq!(detail.tools[0].latency_ms, 84);
        assert_eq!(detail.usage_by_response.len(), 2);

        let json = serde_json::to_value(&detail).unwrap();
        for key in [
            "call_sid",
            "timeline",
            "transcript",
            "tools",
            "usage",
            "usage_by_response",
        ] {
            assert!(
                json.get(key).is_some(),
                "{:?}: export lacks {key}: {json}",
                db.backend
            );
        }
        assert_eq!(json["timeline"][0]["payload"]["from"], "ringing");
        assert_eq!(json["usage"]["cached_tokens"], 55);

        assert!(store.call_detail("CA-unknown").await.unwrap().is_none());
        db
    })
    .await;
}

#[tokio::test]
async fn replaying_a_batch_writes_nothing_twice() {
    on_both(|store: Store, db: TestDb| async move {
        let batch = call_batch("CA1");
        store.write_batch(&batch).await.unwrap();
        store.write_batch(&batch).await.unwrap();
        // A replay from the spill file goes through JSON lines first.
        let replayed: Vec<RecordRow> = batch
            .iter()
            .map(|r| serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap())
            .collect();
        store.write_batch(&replayed).await.unwrap();
        assert_eq!(
            store.count_rows("CA1").await.unwrap(),
            RowCounts {
                events: 3,
                turns: 2,
                tools: 1
            }
        );
        let detail = store.call_detail("CA1").await.unwrap().unwrap();
        assert_eq!(
            detail.call.usage,
            expected_usage(),
            "{:?}: usage double-counted",
            db.backend
        );
        assert_eq!(detail.usage_by_response.len(), 2);
        assert_eq!(store.list_calls(10).await.unwrap().len(), 1);
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replays_of_one_batch_count_usage_once() {
    on_both(|store: Store, db: TestDb| async move {
        let batch = call_batch("CA1");
        let writes: Vec<_> = (0..8)
            .map(|_| {
                let (store, batch) = (store.clone(), batch.clone());
                tokio::spawn(async move { store.write_batch(&batch).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        assert_eq!(
            store.count_rows("CA1").await.unwrap(),
            RowCounts {
                events: 3,
                turns: 2,
                tools: 1
            }
        );
        let detail = store.call_detail("CA1").await.unwrap().unwrap();
        assert_eq!(detail.call.usage, expected_usage(), "{:?}", db.backend);
        db
    })
    .await;
}

#[tokio::test]
async fn an_event_sequence_gap_is_rejected_and_nothing_of_the_batch_lands() {
    on_both(|store: Store, db: TestDb| async move {
        store
            .write_batch(&[started("CA1", t(0)), event("CA1", 1, "a", "{}")])
            .await
            .unwrap();
        let gap = [
            turn("CA1", 1, "caller", "hello"),
            event("CA1", 3, "c", "{}"),
        ];
        match store.write_batch(&gap).await.unwrap_err() {
            StoreError::Conflict(msg) => assert!(msg.contains("seq gap"), "{msg}"),
            other => panic!("{:?}: expected Conflict, got {other:?}", db.backend),
        }
        assert_eq!(
            store.count_rows("CA1").await.unwrap(),
            RowCounts {
                events: 1,
                turns: 0,
                tools: 0
            }
        );
        // The first event of a call must be seq 1.
        let err = store
            .write_batch(&[started("CA2", t(0)), event("CA2", 2, "a", "{}")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Replaying seq 1 with different content is ignored, not an error, and
        // does not overwrite; the next seq is accepted.
        store
            .write_batch(&[event("CA1", 1, "changed", "{}"), event("CA1", 2, "b", "{}")])
            .await
            .unwrap();
        let detail = store.call_detail("CA1").await.unwrap().unwrap();
        let kinds: Vec<_> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["a", "b"]);
        db
    })
    .await;
}

#[tokio::test]
async fn the_gap_check_is_in_the_database_itself() {
    on_both(|store: Store, db: TestDb| async move {
        store
            .write_batch(&[started("CA1", t(0)), event("CA1", 1, "a", "{}")])
            .await
            .unwrap();
        let insert = |seq: i64| {
            format!(
                "INSERT INTO call_events (call_sid, seq, kind, payload, at) \
                 VALUES ('CA1', {seq}, 'raw', '{{}}', '2026-05-01 09:00:00')"
            )
        };
        let err = db.raw_execute(&insert(5)).await.unwrap_err();
        assert!(err.contains("seq gap"), "{:?}: {err}", db.backend);
        db.raw_execute(&insert(1)).await.unwrap();
        db.raw_execute(&insert(2)).await.unwrap();
        assert_eq!(store.count_rows("CA1").await.unwrap().events, 2);
        db
    })
    .await;
}

#[tokio::test]
async fn a_call_sid_is_stored_once_and_its_first_start_and_end_win() {
    on_both(|store: Store, db: TestDb| async move {
        store.write_batch(&[started("CA1", t(0))]).await.unwrap();
        let mut other = started("CA1", t(5));
        if let RecordRow::CallStarted { from_number, .. } = &mut other {
            *from_number = "+19990000".into();
        }
        store.write_batch(&[other]).await.unwrap();
        let end = |outcome: &str, reason: Option<&str>| RecordRow::CallEnded {
            call_sid: "CA1".into(),
            ended_at: t(9),
            outcome: outcome.into(),
            failure_reason: reason.map(Into::into),
        };
        store
            .write_batch(&[end("failed", Some("model_unavailable"))])
            .await
            .unwrap();
        store.write_batch(&[end("completed", None)]).await.unwrap();
        let calls = store.list_calls(10).await.unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].from_number, "+15550199");
        assert_eq!(calls[0].started_at, t(0));
        assert_eq!(calls[0].outcome.as_deref(), Some("failed"));
        assert_eq!(
            calls[0].failure_reason.as_deref(),
            Some("model_unavailable")
        );
        // The primary key itself refuses a second row.
        let err = db
            .raw_execute(
                "INSERT INTO calls (call_sid, business_number, from_number, to_number, started_at) \
                 VALUES ('CA1', 'x', 'y', 'z', '2026-05-01 09:00:00')",
            )
            .await
            .unwrap_err();
        assert!(
            err.to_lowercase().contains("unique") || err.contains("duplicate key"),
            "{err}"
        );
        db
    })
    .await;
}

#[tokio::test]
async fn rows_before_their_call_start_still_land() {
    on_both(|store: Store, db: TestDb| async move {
        store
            .write_batch(&[event("CA9", 1, "a", "{}"), usage("CA9", "r1", 1)])
            .await
            .unwrap();
        let early = store.list_calls(10).await.unwrap();
        assert_eq!(early[0].business_number, "");
        store
            .write_batch(&[started("CA9", t(0)), event("CA9", 2, "b", "{}")])
            .await
            .unwrap();
        let detail = store.call_detail("CA9").await.unwrap().unwrap();
        assert_eq!(detail.call.business_number, "+15550100");
        assert_eq!(detail.call.started_at, t(0));
        assert_eq!(detail.timeline.len(), 2);
        assert_eq!(detail.call.usage.input_tokens, 1);
        db
    })
    .await;
}

#[tokio::test]
async fn list_calls_is_newest_first_and_limited() {
    on_both(|store: Store, db: TestDb| async move {
        for (i, sid) in ["CA1", "CA2", "CA3"].iter().enumerate() {
            store
                .write_batch(&[started(sid, t(i as i64 * 100))])
                .await
                .unwrap();
        }
        let sids: Vec<_> = store
            .list_calls(2)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.call_sid)
            .collect();
        assert_eq!(sids, ["CA3", "CA2"]);
        assert!(store.list_calls(0).await.unwrap().is_empty());
        assert!(store.list_calls(-1).await.unwrap().is_empty());
        assert_eq!(
            store.count_rows("CA-none").await.unwrap(),
            RowCounts::default()
        );
        store.write_batch(&[]).await.unwrap();
        db
    })
    .await;
}
