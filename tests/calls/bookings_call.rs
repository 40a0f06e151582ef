//! A booking call end to end through the simulators: the caller asks for a
//! time somebody else already has, the tool says so with alternatives, the
//! model books the next free one, and the booking and its confirmation text
//! are in the database.

use crate::common::*;
use chrono::{Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName};
use frontdesk::calendar::{BookingRequest, BuiltinCalendar, Calendar};
use frontdesk::simulate::SIM_CALLER;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::{json, Value};

/// The next Monday (never today) that is not a holiday, in business time,
/// so the test never rots.
fn next_open_monday(config: &frontdesk::config::Config) -> NaiveDate {
    let tz = config.business.timezone().unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let mut d = today + Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    while config.business.holidays.iter().any(|h| h.date == d) {
        d += Duration::days(7);
    }
    d
}

#[derive(QueryableByName)]
struct OutboxRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    payload: String,
}

#[actix_rt::test]
async fn a_taken_time_is_refused_and_the_next_one_booked() {
    let config = repo_config();
    let tz = config.business.timezone().unwrap();
    let monday = next_open_monday(&config);
    let local = |h: u32| {
        tz.from_local_datetime(&monday.and_hms_opt(h, 0, 0).unwrap())
            .single()
            .unwrap()
    };
    let wanted = format!("{monday}T10:00");
    let next = format!("{monday}T13:00");
    let next_iso = local(13).to_rfc3339_opts(SecondsFormat::Secs, false);

    let script = ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns: vec![
            ScriptTurn::Tool {
                caller: "A cleaning next Monday at ten, please".into(),
                name: "book_appointment".into(),
                arguments: json!({"service": "Cleaning", "start": wanted, "name": "Dana Whitfield"}),
                reply_template: "Sorry: {output}".into(),
            },
            ScriptTurn::Tool {
                caller: "One o'clock then, yes please".into(),
                name: "book_appointment".into(),
                arguments: json!({"service": "Cleaning", "start": next, "name": "Dana Whitfield"}),
                reply_template: "Booked: {output}".into(),
            },
            ScriptTurn::Tool {
                caller: "Thanks, bye".into(),
                name: "end_call".into(),
                arguments: json!({}),
                reply_template: "Goodbye!".into(),
            },
        ],
        audio_ms_per_char: 2,
        ..ModelScript::default()
    };
    let rig = rig(script, |_| {}).await;

    // Somebody else already has Monday at ten.
    let business = config.business.business.phone.clone();
    let calendar = BuiltinCalendar::new(rig.running.store.clone(), business.clone());
    calendar
        .book(BookingRequest {
            service: "Cleaning".into(),
            start: local(10).with_timezone(&Utc),
            end: (local(10) + Duration::minutes(70)).with_timezone(&Utc),
            name: "Someone Else".into(),
            phone: "+15550102030".into(),
            purpose: String::new(),
        })
        .await
        .unwrap();

    let steps = vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "ten".into(),
            audio: synth_speech(1000, 3),
        },
        wait_for_reply(),
        CallerStep::Say {
            label: "one".into(),
            audio: synth_speech(900, 4),
        },
        wait_for_reply(),
        CallerStep::Say {
            label: "bye".into(),
            audio: synth_speech(700, 5),
        },
        CallerStep::WaitForClose { timeout_ms: 15_000 },
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    assert!(report.problems.is_empty(), "{:?}\n{t}", report.problems);
    assert!(report.closed_by_engine, "{t}");

    // What the model was told.
    let rec = rig.model.record();
    let conn = &rec.connections[0];
    let tools: Vec<&str> = conn.session_updates[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "check_availability",
        "book_appointment",
        "find_appointments",
        "cancel_appointment",
        "reschedule_appointment",
    ] {
        assert!(tools.contains(&name), "{name} not offered: {tools:?}");
    }
    let outputs: Vec<Value> = conn
        .items_created
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| serde_json::from_str(i["output"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    assert_eq!(outputs[0]["error"], "slot_taken", "{}", outputs[0]);
    let alternatives: Vec<&str> = outputs[0]["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start"].as_str().unwrap())
        .collect();
    assert!(
        alternatives.contains(&next_iso.as_str()),
        "{alternatives:?}"
    );
    assert_eq!(outputs[1]["booked"], true, "{}", outputs[1]);
    assert_eq!(outputs[1]["start"], next_iso);
    assert_eq!(outputs[1]["phone"], SIM_CALLER);
    assert_eq!(outputs[1]["sms_confirmation"], "queued");
    let spoken = outputs[1]["spoken"].as_str().unwrap().to_string();
    assert!(spoken.ends_with("at 1 pm"), "{spoken}");
    // The model read the result back to the caller.
    assert!(
        rec.transcript
            .iter()
            .any(|(who, s)| who == "model" && s.contains(&spoken)),
        "{:?}",
        rec.transcript
    );

    // Every event, tool schemas included, passes the official SDK's schema.
    assert_client_events_valid(&rec);

    // The booking is in the database, next to the one that was there.
    let day = calendar
        .busy(
            local(0).with_timezone(&Utc),
            (local(0) + Duration::days(1)).with_timezone(&Utc),
        )
        .await
        .unwrap();
    let starts: Vec<_> = day.iter().map(|i| i.start).collect();
    assert_eq!(
        starts,
        [local(10).with_timezone(&Utc), local(13).with_timezone(&Utc)]
    );
    let mine = calendar
        .find_by_phone(SIM_CALLER.into(), Utc::now())
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].name, "Dana Whitfield");
    assert_eq!(mine[0].service, "Cleaning");

    // And the confirmation text is in the outbox.
    let path = rig.dir.path().join("frontdesk.db");
    let mut db = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let rows: Vec<OutboxRow> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT kind, payload FROM outbox ORDER BY id"),
        &mut db,
    )
    .unwrap();
    let sms: Vec<Value> = rows
        .iter()
        .filter(|r| r.kind == "sms")
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["to"], SIM_CALLER);
    let body = sms[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("Cleaning is booked for {spoken}")),
        "{body}"
    );
}
