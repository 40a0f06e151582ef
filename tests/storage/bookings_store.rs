//! The built-in calendar and the booking tools on both backends: booking,
//! conflicts (also under concurrency), atomic rescheduling, cancelling,
//! finding by phone, and the confirmation texts in the outbox.

use std::path::Path;
use std::sync::Arc;

use crate::store_support::{on_both, TestDb};
use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use frontdesk::calendar::{BookingRequest, BuiltinCalendar, Calendar, CalendarError, Interval};
use frontdesk::config::{Config, ConfigSources};
use frontdesk::store::{Backend, Store};
use frontdesk::tools::booking::{
    BookAppointment, CancelAppointment, FindAppointments, RescheduleAppointment,
};
use frontdesk::tools::{Tool, ToolContext};
use serde_json::{json, Value};

const BIZ: &str = "+15551230000";
const ADA: &str = "+15550001111";
const BOB: &str = "+15550002222";

/// 2030-06-03 (a Monday) at h:m UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 3, h, m, 0).unwrap()
}

fn request(phone: &str, start: DateTime<Utc>, minutes: i64) -> BookingRequest {
    BookingRequest {
        service: "Cleaning".into(),
        start,
        end: start + Duration::minutes(minutes),
        name: "Ada".into(),
        phone: phone.into(),
        purpose: "six-month cleaning".into(),
    }
}

fn starts(bookings: &[frontdesk::calendar::Booking]) -> Vec<DateTime<Utc>> {
    bookings.iter().map(|b| b.start).collect()
}

#[tokio::test]
async fn book_conflict_find_and_cancel() {
    on_both(|store: Store, db: TestDb| async move {
        let cal = BuiltinCalendar::new(store.clone(), BIZ);
        let a = cal.book(request(ADA, at(14, 0), 70)).await.unwrap();
        assert_eq!(
            (a.service.as_str(), a.purpose.as_str()),
            ("Cleaning", "six-month cleaning")
        );
        let taken = cal.book(request(BOB, at(15, 0), 30)).await;
        assert!(
            matches!(taken, Err(CalendarError::Conflict(_))),
            "{:?}: {taken:?}",
            db.backend
        );
        // Touching the end of the hold (buffer included) is fine.
        let b = cal.book(request(BOB, at(15, 10), 30)).await.unwrap();

        let mine = cal.find_by_phone(ADA.into(), at(0, 0)).await.unwrap();
        assert_eq!(mine, vec![a.clone()]);
        assert!(
            cal.find_by_phone(ADA.into(), at(15, 10))
                .await
                .unwrap()
                .is_empty(),
            "ended"
        );
        assert_eq!(
            starts(&cal.find_by_phone(BOB.into(), at(0, 0)).await.unwrap()),
            [at(15, 10)]
        );

        // Another business shares the table but not the calendar.
        let other = BuiltinCalendar::new(store.clone(), "+15559990000");
        assert!(other
            .find_by_phone(ADA.into(), at(0, 0))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            other.cancel(a.id.clone()).await,
            Err(CalendarError::NotFound)
        );
        other.book(request(ADA, at(14, 0), 70)).await.unwrap();

        let cancelled = cal.cancel(a.id.clone()).await.unwrap();
        assert_eq!(cancelled.start, at(14, 0));
        assert_eq!(cal.cancel(a.id.clone()).await, Err(CalendarError::NotFound));
        assert_eq!(
            cal.busy(at(0, 0), at(23, 0)).await.unwrap(),
            vec![Interval::new(at(15, 10), at(15, 40))]
        );
        // The freed slot can be booked again.
        cal.book(request(BOB, at(14, 0), 70)).await.unwrap();
        assert!(b.id != a.id);
        db
    })
    .await;
}

#[tokio::test]
async fn reschedule_never_loses_the_old_slot() {
    on_both(|store: Store, db: TestDb| async move {
        let cal = BuiltinCalendar::new(store.clone(), BIZ);
        let a = cal.book(request(ADA, at(14, 0), 70)).await.unwrap();
        let b = cal.book(request(BOB, at(17, 0), 70)).await.unwrap();

        // Into Bob's hold: refused, and Ada keeps her appointment.
        let r = cal.reschedule(a.id.clone(), at(17, 30), at(18, 40)).await;
        assert!(
            matches!(r, Err(CalendarError::Conflict(_))),
            "{:?}: {r:?}",
            db.backend
        );
        assert_eq!(
            cal.find_by_phone(ADA.into(), at(0, 0)).await.unwrap(),
            vec![a.clone()]
        );
        assert_eq!(cal.busy(at(0, 0), at(23, 0)).await.unwrap().len(), 2);

        // A quarter of an hour later overlaps only her own old hold.
        let moved = cal
            .reschedule(a.id.clone(), at(14, 15), at(15, 25))
            .await
            .unwrap();
        assert_ne!(moved.id, a.id);
        assert_eq!((moved.name.as_str(), moved.phone.as_str()), ("Ada", ADA));
        assert_eq!(moved.purpose, "six-month cleaning");
        assert_eq!(
            starts(&cal.find_by_phone(ADA.into(), at(0, 0)).await.unwrap()),
            [at(14, 15)]
        );
        assert_eq!(
            cal.cancel(a.id.clone()).await,
            Err(CalendarError::NotFound),
            "old one is gone"
        );

        // Moving something no longer booked changes nothing.
        let r = cal.reschedule(a.id.clone(), at(19, 0), at(20, 0)).await;
        assert_eq!(r, Err(CalendarError::NotFound));
        assert_eq!(
            cal.busy(at(0, 0), at(23, 0)).await.unwrap(),
            vec![Interval::new(at(14, 15), at(15, 25)), b.held()]
        );
        db
    })
    .await;
}

#[tokio::test]
async fn racing_writers_get_one_slot_each_at_most() {
    on_both(|store: Store, db: TestDb| async move {
        let cal = Arc::new(BuiltinCalendar::new(store.clone(), BIZ));
        // Eight callers book the same slot at once: exactly one gets it.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let cal = cal.clone();
                tokio::spawn(async move {
                    cal.book(request(&format!("+1555000{i:04}"), at(20, 0), 30))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(CalendarError::Conflict(_)) => {}
                Err(e) => panic!("{:?}: {e}", db.backend),
            }
        }
        assert_eq!(ok, 1, "{:?}", db.backend);

        // Two appointments move into one free slot at once: one moves, the
        // other keeps its old time.
        let a = cal.book(request(ADA, at(14, 0), 70)).await.unwrap();
        let b = cal.book(request(BOB, at(16, 0), 70)).await.unwrap();
        let (ra, rb) = tokio::join!(
            cal.reschedule(a.id.clone(), at(18, 0), at(19, 10)),
            cal.reschedule(b.id.clone(), at(18, 30), at(19, 40)),
        );
        assert!(ra.is_ok() != rb.is_ok(), "{:?}: {ra:?} {rb:?}", db.backend);
        let ada = starts(&cal.find_by_phone(ADA.into(), at(0, 0)).await.unwrap());
        let bob = starts(&cal.find_by_phone(BOB.into(), at(0, 0)).await.unwrap());
        if ra.is_ok() {
            assert_eq!((ada, bob), (vec![at(18, 0)], vec![at(16, 0)]));
        } else {
            assert_eq!((ada, bob), (vec![at(14, 0)], vec![at(18, 30)]));
        }
        db
    })
    .await;
}

fn repo_config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Config::load_with_env(&ConfigSources::in_dir(&dir), &[]).unwrap()
}

/// Sunday 2026-11-22, 10:00 in New York (the tool's clock, not the wall's).
fn ctx(store: Store) -> ToolContext {
    ToolContext {
        call_sid: "CA00000000000000000000000000000042".into(),
        caller: "+15005550006".into(),
        called: BIZ.into(),
        now: Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap(),
        store,
        config: Arc::new(repo_config()),
    }
}

async fn run(tool: &dyn Tool, args: Value, ctx: &ToolContext) -> Value {
    tool.run(args, ctx.clone())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", tool.name()))
        .output
}

#[derive(QueryableByName)]
struct OutboxRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    payload: String,
}

/// The outbox as stored, read on a connection of its own.
async fn outbox(db: &TestDb) -> Vec<(String, Value)> {
    const SQL: &str = "SELECT kind, payload FROM outbox ORDER BY id";
    let rows: Vec<OutboxRow> = match db.backend {
        Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            diesel::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn).unwrap()
        }
        Backend::Postgres => {
            let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
            diesel_async::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn)
                .await
                .unwrap()
        }
    };
    rows.into_iter()
        .map(|r| (r.kind, serde_json::from_str(&r.payload).unwrap()))
        .collect()
}

#[tokio::test]
async fn tools_book_cancel_and_move_with_confirmations() {
    on_both(|store: Store, db: TestDb| async move {
        let ctx = ctx(store.clone());
        let book = BookAppointment::new(&ctx.config).unwrap();
        let args =
            json!({"service": "Cleaning", "start": "2026-11-23T10:00", "name": "Dana Whitfield"});
        let out = run(&book, args.clone(), &ctx).await;
        assert_eq!(out["booked"], true, "{out}");
        let again = run(&book, args, &ctx).await;
        assert_eq!(again["error"], "slot_taken", "{again}");

        let sms = outbox(&db).await;
        assert_eq!(sms.len(), 1, "{:?}: {sms:?}", db.backend);
        assert_eq!(sms[0].0, "sms");
        assert_eq!(sms[0].1["to"], "+15005550006");
        let body = sms[0].1["body"].as_str().unwrap();
        assert!(
            body.contains("Cleaning is booked for Monday 23 November at 10 am"),
            "{body}"
        );

        let moved = run(
            &RescheduleAppointment::new(),
            json!({"new_start": "2026-11-24T13:00"}),
            &ctx,
        )
        .await;
        assert_eq!(moved["rescheduled"], true, "{moved}");
        let found = run(&FindAppointments::new(), json!({}), &ctx).await;
        assert_eq!(
            found["appointments"][0]["spoken"],
            "Tuesday 24 November at 1 pm"
        );

        let cancelled = run(&CancelAppointment::new(), json!({}), &ctx).await;
        assert_eq!(cancelled["cancelled"], true, "{cancelled}");
        let found = run(&FindAppointments::new(), json!({}), &ctx).await;
        assert_eq!(found["appointments"], json!([]));

        let bodies: Vec<String> = outbox(&db)
            .await
            .iter()
            .map(|(_, p)| p["body"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        assert!(
            bodies[1].contains("booked for Tuesday 24 November at 1 pm"),
            "{bodies:?}"
        );
        assert!(
            bodies[2].contains("Tuesday 24 November at 1 pm is cancelled"),
            "{bodies:?}"
        );
        db
    })
    .await;
}
