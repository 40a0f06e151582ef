//! Flight-record chunks (`call_inputs`) on both backends: written once however
//! often a batch is replayed, read back in chunk order.

use crate::store_support::{on_both, TestDb};
use chrono::Utc;
use frontdesk::store::{RecordRow, Store};

fn chunk(sid: &str, n: i64) -> RecordRow {
    RecordRow::Inputs {
        call_sid: sid.into(),
        chunk: n,
        body: format!("chunk {n} of {sid}\n"),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn flight_chunks_are_written_once_and_read_in_order() {
    on_both(|store: Store, db: TestDb| async move {
        let batch = vec![chunk("CA1", 1), chunk("CA1", 0), chunk("CA2", 0)];
        store.write_batch(&batch).await.unwrap();
        // A retried batch (an ambiguous failure, the spill file) adds nothing.
        store.write_batch(&batch).await.unwrap();
        store.write_batch(&[chunk("CA1", 2)]).await.unwrap();
        let got = store.flight_chunks("CA1").await.unwrap();
        assert_eq!(
            got,
            vec![
                (0, "chunk 0 of CA1\n".to_string()),
                (1, "chunk 1 of CA1\n".to_string()),
                (2, "chunk 2 of CA1\n".to_string()),
            ],
            "{:?}",
            db.backend
        );
        assert_eq!(store.flight_chunks("CA2").await.unwrap().len(), 1);
        assert!(store.flight_chunks("CA3").await.unwrap().is_empty());
        db
    })
    .await;
}
