//! No two booked appointments of one business overlap, on both backends,
//! including under concurrent bookings.

use crate::store_support::{on_both, TestDb};
use chrono::{DateTime, Duration, TimeZone, Utc};
use frontdesk::store::{AppointmentStatus, NewAppointment, Store, StoreError};

const BIZ: &str = "+15550100";

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn appt(business: &str, from: i64, to: i64) -> NewAppointment {
    NewAppointment {
        business_number: business.into(),
        starts_at: at(from),
        ends_at: at(to),
        name: "Ada".into(),
        phone: "+15550123".into(),
        purpose: "cleaning".into(),
    }
}

fn assert_overlap(result: Result<i64, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("overlaps"), "{what}: {msg}"),
        other => panic!("{what}: expected an overlap conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn overlapping_bookings_are_refused_touching_ones_allowed() {
    on_both(|store: Store, db: TestDb| async move {
        let first = store.book_appointment(appt(BIZ, 0, 30)).await.unwrap();
        assert_overlap(
            store.book_appointment(appt(BIZ, 15, 45)).await,
            "partial overlap",
        );
        assert_overlap(store.book_appointment(appt(BIZ, 5, 10)).await, "inside");
        assert_overlap(store.book_appointment(appt(BIZ, -10, 60)).await, "around");
        assert_overlap(store.book_appointment(appt(BIZ, 0, 30)).await, "identical");
        let before = store.book_appointment(appt(BIZ, -30, 0)).await.unwrap();
        let after = store.book_appointment(appt(BIZ, 30, 60)).await.unwrap();
        let elsewhere = store
            .book_appointment(appt("+15550200", 0, 30))
            .await
            .unwrap();
        assert_eq!(
            [first, before, after, elsewhere]
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            4
        );

        let day = store
            .appointments_between(BIZ, at(-60), at(120))
            .await
            .unwrap();
        let ids: Vec<_> = day.iter().map(|a| a.id).collect();
        assert_eq!(ids, [before, first, after], "{:?}", db.backend);
        assert_eq!(day[1].starts_at, at(0));
        assert_eq!(day[1].ends_at, at(30));
        assert_eq!(day[1].status, AppointmentStatus::Booked);
        assert_eq!(day[1].purpose, "cleaning");
        // [from, to) is half-open too: a window ending where `first` starts excludes it.
        let ids: Vec<_> = store
            .appointments_between(BIZ, at(-20), at(0))
            .await
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, [before]);
        db
    })
    .await;
}

#[tokio::test]
async fn cancelled_bookings_do_not_block_and_cancelling_is_idempotent() {
    on_both(|store: Store, db: TestDb| async move {
        let id = store.book_appointment(appt(BIZ, 0, 30)).await.unwrap();
        store.cancel_appointment(id).await.unwrap();
        store.cancel_appointment(id).await.unwrap();
        assert!(store
            .appointments_between(BIZ, at(0), at(30))
            .await
            .unwrap()
            .is_empty());
        let again = store.book_appointment(appt(BIZ, 0, 30)).await.unwrap();
        assert_ne!(again, id);
        assert_eq!(
            store.cancel_appointment(999_999).await.unwrap_err(),
            StoreError::NotFound
        );
        // Reviving the cancelled one would overlap: the database refuses it.
        let err = db
            .raw_execute(&format!(
                "UPDATE appointments SET status = 'booked' WHERE id = {id}"
            ))
            .await
            .unwrap_err();
        assert!(
            err.contains("overlap") || err.contains("appointments_no_overlap"),
            "{:?}: {err}",
            db.backend
        );
        db
    })
    .await;
}

#[tokio::test]
async fn an_appointment_must_end_after_it_starts() {
    on_both(|store: Store, db: TestDb| async move {
        for (from, to) in [(30, 30), (30, 0)] {
            match store.book_appointment(appt(BIZ, from, to)).await {
                Err(StoreError::Conflict(msg)) => assert!(msg.contains("end after it starts"), "{msg}"),
                other => panic!("expected Conflict, got {other:?}"),
            }
        }
        let err = db
            .raw_execute(
                "INSERT INTO appointments (business_number, starts_at, ends_at, name, phone, purpose, status, created_at) \
                 VALUES ('b', '2026-06-01 10:00:00', '2026-06-01 09:00:00', 'n', 'p', 'x', 'booked', '2026-06-01 08:00:00')",
            )
            .await
            .unwrap_err();
        assert!(err.contains("appointments_ends_after_start") || err.contains("CHECK"), "{err}");
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_overlapping_bookings_one_wins() {
    on_both(|store: Store, db: TestDb| async move {
        // Every candidate covers minute 20, so any two overlap.
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.book_appointment(appt(BIZ, i, 21 + i)).await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Conflict(msg)) => assert!(msg.contains("overlaps"), "{msg}"),
                Err(other) => panic!("{:?}: unexpected error {other:?}", db.backend),
            }
        }
        assert_eq!(won, 1, "{:?}", db.backend);
        assert_eq!(
            store
                .appointments_between(BIZ, at(-60), at(120))
                .await
                .unwrap()
                .len(),
            1
        );
        db
    })
    .await;
}
