use super::*;
use frontdesk_core::command::Outcome;
use frontdesk_core::transcript::{Speaker, Turn};
use std::sync::atomic::AtomicBool;

/// A real SQLite store behind a switch that can make writes fail, as an
/// unreachable database would.
struct Gate {
    store: Store,
    open: Arc<AtomicBool>,
}

impl BatchSink for Gate {
    fn write(
        &self,
        rows: Vec<RecordRow>,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>> {
        if !self.open.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(StoreError::Unreachable(
                    "connection refused (test gate closed)".to_string(),
                ))
            });
        }
        self.store.write(rows)
    }
}

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap()
}

fn transition(i: usize) -> CallRecord {
    CallRecord::Transition {
        from: "conversing",
        to: "conversing",
        cause: frontdesk_core::Cause::HangupRequested {
            reason: format!("step {i}"),
        },
    }
}

fn send(rec: &Addr<Recorder>, sid: &str, record: CallRecord) {
    rec.do_send(RecordCall {
        call_sid: sid.into(),
        at: Utc::now(),
        record,
    });
}

#[actix_rt::test]
async fn records_are_written_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let stats = Arc::new(RecorderStats::default());
    let rec = Recorder::new(
        Arc::new(store.clone()),
        &dir.path().join("spill.jsonl"),
        stats.clone(),
    )
    .unwrap()
    .start();
    send(
        &rec,
        "CA1",
        CallRecord::Started {
            transport: frontdesk_core::Transport::Twilio,
            from: "+15550001111".into(),
            to: "+15551230000".into(),
        },
    );
    for i in 0..10 {
        send(&rec, "CA1", transition(i));
    }
    send(
        &rec,
        "CA1",
        CallRecord::Turn(Turn {
            speaker: Speaker::Caller,
            text: "hello".into(),
            item_id: "u1".into(),
        }),
    );
    send(
        &rec,
        "CA1",
        CallRecord::Ended {
            outcome: Outcome::CallerHungUp,
        },
    );
    assert!(rec
        .send(Flush {
            timeout: Duration::from_secs(5)
        })
        .await
        .unwrap());
    let counts = store.count_rows("CA1").await.unwrap();
    assert_eq!((counts.events, counts.turns), (12, 1));
    assert_eq!(stats.write_failures.load(Ordering::Relaxed), 0);
}

#[actix_rt::test]
async fn an_outage_loses_nothing_and_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let open = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(RecorderStats::default());
    let spill_path = dir.path().join("spill.jsonl");
    let gate = Gate {
        store: store.clone(),
        open: open.clone(),
    };
    let rec = Recorder::new(Arc::new(gate), &spill_path, stats.clone())
        .unwrap()
        .start();
    // More than fits in memory, across several calls, while the database is down.
    let calls = 4;
    let per_call = MEMORY_ROWS / 2;
    for c in 0..calls {
        send(
            &rec,
            &format!("CA{c}"),
            CallRecord::Started {
                transport: frontdesk_core::Transport::Twilio,
                from: "+1".into(),
                to: "+2".into(),
            },
        );
    }
    for i in 0..per_call {
        for c in 0..calls {
            send(&rec, &format!("CA{c}"), transition(i));
        }
    }
    assert!(
        !rec.send(Flush {
            timeout: Duration::from_millis(500)
        })
        .await
        .unwrap(),
        "flushed with the database down?"
    );
    assert!(
        stats.rows_spilled.load(Ordering::Relaxed) > 0,
        "nothing spilled past the memory bound"
    );
    assert!(stats.write_failures.load(Ordering::Relaxed) > 0);
    assert!(std::fs::metadata(&spill_path).unwrap().len() > 0);

    open.store(true, Ordering::SeqCst);
    assert!(
        rec.send(Flush {
            timeout: Duration::from_secs(60)
        })
        .await
        .unwrap(),
        "backlog not written"
    );
    for c in 0..calls {
        let counts = store.count_rows(&format!("CA{c}")).await.unwrap();
        // +1: the "started" event.
        assert_eq!(counts.events, per_call as i64 + 1, "call {c}");
    }
    assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
    assert_eq!(
        std::fs::metadata(&spill_path).unwrap().len(),
        0,
        "spill file not emptied"
    );
}

#[actix_rt::test]
async fn rows_spilled_by_a_crashed_process_are_written_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let spill_path = dir.path().join("spill.jsonl");
    // What a crashed process left behind (rows numbered as it numbered them).
    let mut numbering = Numbering::default();
    let mut rows = numbering.rows(
        "CA9",
        Utc::now(),
        CallRecord::Started {
            transport: frontdesk_core::Transport::Twilio,
            from: "+1".into(),
            to: "+2".into(),
        },
    );
    for i in 0..5 {
        rows.extend(numbering.rows("CA9", Utc::now(), transition(i)));
    }
    Spill::open(&spill_path).unwrap().append(&rows).unwrap();
    // Some of them had been written before the crash: replaying is harmless.
    store.write_batch(&rows[..3]).await.unwrap();

    let stats = Arc::new(RecorderStats::default());
    let rec = Recorder::new(Arc::new(store.clone()), &spill_path, stats)
        .unwrap()
        .start();
    assert!(rec
        .send(Flush {
            timeout: Duration::from_secs(5)
        })
        .await
        .unwrap());
    assert_eq!(store.count_rows("CA9").await.unwrap().events, 6);
}
