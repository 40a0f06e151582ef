//! Booking calls into the calendars businesses already use: a simulated call
//! (Twilio caller and scripted model simulators, the real engine) books into
//! a real Radicale CalDAV server, into the Google Calendar simulator and
//! into the Microsoft Graph simulator, as chosen in `[calendar]`. A calendar
//! that is down leaves the call going: the model is told, takes a message,
//! and the failure is stored with its reason. A business without a
//! calendar texts its booking page instead.

use crate::calendar_support::{Radicale, CALDAV_PASSWORD, CALDAV_USER};
use crate::common::*;
use chrono::{Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Utc};
use frontdesk::calendar::{CalDavCalendar, Calendar};
use frontdesk::config::calendar::{CalDavConfig, CalendarKind};
use frontdesk::config::Config;
use frontdesk::simulate::SIM_CALLER;
use frontdesk::store::CallDetail;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::google_calendar::{GoogleAuth, GoogleCalendarSim};
use frontdesk_sim::microsoft_graph::{GraphAuth, GraphSim};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::{json, Value};

/// The next Monday (never today) that is not a holiday, in business time.
fn next_open_monday(config: &Config) -> NaiveDate {
    let tz = config.business.timezone().unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let mut d = today + Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    while config.business.holidays.iter().any(|h| h.date == d) {
        d += Duration::days(7);
    }
    d
}

/// Monday 10:00 in the business's timezone, as the model says it and as
/// the instant it is.
fn monday_ten() -> (String, chrono::DateTime<Utc>) {
    let config = repo_config();
    let tz = config.business.timezone().unwrap();
    let monday = next_open_monday(&config);
    let at = tz
        .from_local_datetime(&monday.and_hms_opt(10, 0, 0).unwrap())
        .single()
        .unwrap();
    (format!("{monday}T10:00"), at.with_timezone(&Utc))
}

fn tool(caller: &str, name: &str, arguments: Value) -> ScriptTurn {
    ScriptTurn::Tool {
        caller: caller.into(),
        name: name.into(),
        arguments,
        reply_template: "Okay: {output}".into(),
    }
}

#[derive(diesel::QueryableByName)]
struct OutboxRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    payload: String,
}

/// What a call left behind.
struct Done {
    /// Tool outputs the model got, in order.
    outputs: Vec<Value>,
    detail: CallDetail,
    /// Names of the tools the model was offered.
    offered: Vec<String>,
    /// Text messages in the outbox.
    sms: Vec<Value>,
}

/// Places a call whose model runs `turns` (the last one ends the call), on
/// an engine configured by `tweak`.
async fn call(turns: Vec<ScriptTurn>, tweak: impl FnOnce(&mut Config)) -> Done {
    let n = turns.len();
    let script = ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns,
        audio_ms_per_char: 2,
        ..ModelScript::default()
    };
    let rig = rig(script, tweak).await;
    let mut steps = vec![wait_for_reply()];
    for i in 0..n {
        steps.push(CallerStep::Say {
            label: format!("turn {i}"),
            audio: synth_speech(900, 3 + i as u64),
        });
        if i + 1 < n {
            steps.push(wait_for_reply());
        }
    }
    steps.push(CallerStep::WaitForClose { timeout_ms: 15_000 });
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    let t = report.timeline_text();
    assert!(report.problems.is_empty(), "{:?}\n{t}", report.problems);
    assert!(report.closed_by_engine, "{t}");
    let rec = rig.model.record();
    let outputs: Vec<Value> = rec.connections[0]
        .items_created
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| serde_json::from_str(i["output"].as_str().unwrap()).unwrap())
        .collect();
    assert!(rig
        .running
        .recorder
        .send(frontdesk::recorder::Flush {
            timeout: std::time::Duration::from_secs(5)
        })
        .await
        .unwrap());
    let detail = rig
        .running
        .store
        .call_detail(&report.call_sid)
        .await
        .unwrap()
        .expect("call recorded");
    let offered = rec.connections[0].session_updates[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    use diesel::Connection;
    let path = rig.dir.path().join("frontdesk.db");
    let mut db = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let rows: Vec<OutboxRow> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT kind, payload FROM outbox ORDER BY id"),
        &mut db,
    )
    .unwrap();
    let sms = rows
        .iter()
        .filter(|r| r.kind == "sms")
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect();
    Done {
        outputs,
        detail,
        offered,
        sms,
    }
}

fn book_then_bye() -> Vec<ScriptTurn> {
    let (start, _) = monday_ten();
    vec![
        tool(
            "A cleaning next Monday at ten, please",
            "book_appointment",
            json!({"service": "Cleaning", "start": start, "name": "Dana Whitfield", "purpose": "six-month cleaning"}),
        ),
        tool("Thanks, bye", "end_call", json!({})),
    ]
}

fn assert_booked(outputs: &[Value]) -> String {
    let (_, at) = monday_ten();
    assert_eq!(outputs[0]["booked"], true, "{outputs:?}");
    let tz = repo_config().business.timezone().unwrap();
    assert_eq!(
        outputs[0]["start"],
        at.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    );
    assert_eq!(outputs[0]["phone"], SIM_CALLER);
    outputs[0]["appointment_id"].as_str().unwrap().to_string()
}

#[actix_rt::test]
async fn a_call_books_into_radicale() {
    let server = Radicale::start();
    let url = server.calendar("appointments").await;
    let caldav = CalDavConfig {
        url: url.clone(),
        username: CALDAV_USER.into(),
        password: Some(CALDAV_PASSWORD.into()),
    };
    let c = caldav.clone();
    let Done { outputs, .. } = call(book_then_bye(), move |config| {
        config.business.calendar.kind = CalendarKind::Caldav;
        config.business.calendar.caldav = c;
    })
    .await;
    let id = assert_booked(&outputs);
    let (_, at) = monday_ten();
    let cal = CalDavCalendar::new(&caldav, std::time::Duration::from_secs(5)).unwrap();
    let found = cal
        .find_by_phone(SIM_CALLER.into(), Utc::now())
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].start, at);
    assert_eq!(found[0].end, at + Duration::minutes(70), "hour plus buffer");
    assert_eq!(
        (found[0].service.as_str(), found[0].name.as_str()),
        ("Cleaning", "Dana Whitfield")
    );
}

#[actix_rt::test]
async fn a_call_books_into_the_google_calendar_simulator() {
    let sim = GoogleCalendarSim::start(
        GoogleAuth {
            client_id: "client-1".into(),
            client_secret: "client-secret-1".into(),
            refresh_token: "1//refresh-1".into(),
            service_accounts: Vec::new(),
        },
        &["desk@harbor.example"],
    )
    .await
    .unwrap();
    let (base, token) = (sim.base_url(), sim.token_url());
    let Done { outputs, .. } = call(book_then_bye(), move |config| {
        let c = &mut config.business.calendar;
        c.kind = CalendarKind::Google;
        c.google.calendar_id = "primary".into();
        c.google.base_url = base;
        c.google.token_url = token;
        c.google.client_id = "client-1".into();
        c.google.client_secret = Some("client-secret-1".into());
        c.google.refresh_token = Some("1//refresh-1".into());
    })
    .await;
    let id = assert_booked(&outputs);
    let events = sim.events("desk@harbor.example");
    assert_eq!(events.len(), 1, "{events:?}");
    let (_, at) = monday_ten();
    assert_eq!(events[0]["id"], id.as_str());
    assert_eq!(events[0]["summary"], "Cleaning: Dana Whitfield");
    assert_eq!(
        events[0]["start"]["dateTime"],
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    assert_eq!(
        events[0]["extendedProperties"]["private"]["frontdeskPhone"],
        SIM_CALLER
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r == "POST /calendar/v3/freeBusy"),
        "{:?}",
        sim.requests()
    );
}

#[actix_rt::test]
async fn a_call_books_into_the_microsoft_graph_simulator() {
    let sim = GraphSim::start(GraphAuth {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: "graph-secret-1".into(),
        user: "desk@harbor.example".into(),
    })
    .await
    .unwrap();
    let (base, token) = (sim.base_url(), sim.token_url());
    let Done { outputs, .. } = call(book_then_bye(), move |config| {
        let c = &mut config.business.calendar;
        c.kind = CalendarKind::Microsoft;
        c.microsoft.tenant_id = "tenant-1".into();
        c.microsoft.client_id = "app-1".into();
        c.microsoft.user = "desk@harbor.example".into();
        c.microsoft.base_url = base;
        c.microsoft.token_url = token;
        c.microsoft.client_secret = Some("graph-secret-1".into());
    })
    .await;
    let id = assert_booked(&outputs);
    let events = sim.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let (_, at) = monday_ten();
    assert_eq!(events[0]["id"], id.as_str());
    assert_eq!(events[0]["subject"], "Cleaning: Dana Whitfield");
    assert_eq!(
        events[0]["start"]["dateTime"],
        format!("{}.0000000", at.format("%Y-%m-%dT%H:%M:%S"))
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r == "POST /v1.0/users/desk@harbor.example/calendar/getSchedule"),
        "{:?}",
        sim.requests()
    );
}

#[actix_rt::test]
async fn a_calendar_that_is_down_leaves_the_call_going_and_a_message_is_taken() {
    let sim = GoogleCalendarSim::start(
        GoogleAuth {
            client_id: "client-1".into(),
            client_secret: "client-secret-1".into(),
            refresh_token: "1//refresh-1".into(),
            service_accounts: Vec::new(),
        },
        &["desk@harbor.example"],
    )
    .await
    .unwrap();
    sim.set_down(true);
    let (base, token) = (sim.base_url(), sim.token_url());
    let mut turns = book_then_bye();
    turns.insert(
        1,
        tool(
            "Then please take a message",
            "take_message",
            json!({"caller_name": "Dana Whitfield", "subject": "Cleaning appointment", "body": "Wants a cleaning next Monday at ten"}),
        ),
    );
    let Done {
        outputs, detail, ..
    } = call(turns, move |config| {
        let c = &mut config.business.calendar;
        c.kind = CalendarKind::Google;
        c.google.calendar_id = "desk@harbor.example".into();
        c.google.base_url = base;
        c.google.token_url = token;
        c.google.client_id = "client-1".into();
        c.google.client_secret = Some("client-secret-1".into());
        c.google.refresh_token = Some("1//refresh-1".into());
    })
    .await;
    assert_eq!(outputs[0]["error"], "unavailable", "{outputs:?}");
    let message = outputs[0]["message"].as_str().unwrap();
    assert!(message.contains("offer to take a message"), "{message}");
    assert!(
        !message.contains("client-secret-1") && !message.contains("refresh-1"),
        "{message}"
    );
    assert_eq!(detail.messages.len(), 1, "the message was taken");
    // The failure is stored with its reason, for operators.
    let stored = &detail.tools[0];
    assert_eq!(stored.name, "book_appointment");
    assert!(
        stored.result.contains("google calendar") && stored.result.contains("503"),
        "{}",
        stored.result
    );
    assert!(sim.events("desk@harbor.example").is_empty());
}

#[actix_rt::test]
async fn without_a_calendar_the_booking_page_is_texted_once() {
    let turns = vec![
        tool("Can I book a cleaning?", "send_booking_link", json!({})),
        tool("Send it again?", "send_booking_link", json!({})),
        tool("Thanks, bye", "end_call", json!({})),
    ];
    let done = call(turns, |config| {
        config.business.calendar.kind = CalendarKind::None;
        config.business.calendar.booking_url = "https://harbor.example/book".into();
    })
    .await;
    let outputs = &done.outputs;
    assert_eq!(outputs[0]["sent"], true, "{outputs:?}");
    assert_eq!(outputs[1]["already_sent"], true, "{outputs:?}");
    let offered: Vec<&str> = outputs.iter().filter_map(|o| o["error"].as_str()).collect();
    assert!(offered.is_empty(), "{outputs:?}");
    assert!(done.offered.contains(&"send_booking_link".to_string()));
    assert!(
        !done
            .offered
            .iter()
            .any(|t| t == "book_appointment" || t == "check_availability"),
        "no calendar, no booking tools: {:?}",
        done.offered
    );
    assert_eq!(done.sms.len(), 1, "{:?}", done.sms);
    assert_eq!(done.sms[0]["to"], SIM_CALLER);
    assert!(
        done.sms[0]["body"]
            .as_str()
            .unwrap()
            .ends_with("https://harbor.example/book"),
        "{:?}",
        done.sms
    );
}

#[actix_rt::test]
async fn a_time_taken_in_the_radicale_calendar_gets_the_nearest_ones() {
    let server = Radicale::start();
    let url = server.calendar("appointments").await;
    // Somebody put a staff meeting in the calendar at Monday 10:00-11:00.
    let (start, at) = monday_ten();
    let stamp = |t: chrono::DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Someone//Phone//EN\r\nBEGIN:VEVENT\r\n\
         UID:staff-meeting\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:{}\r\nDTEND:{}\r\n\
         SUMMARY:Staff meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        stamp(at),
        stamp(at + Duration::hours(1))
    );
    server.put_foreign(&url, "staff.ics", &ics).await;
    let caldav = CalDavConfig {
        url,
        username: CALDAV_USER.into(),
        password: Some(CALDAV_PASSWORD.into()),
    };
    let turns = vec![
        tool(
            "A cleaning next Monday at ten, please",
            "book_appointment",
            json!({"service": "Cleaning", "start": start, "name": "Dana Whitfield"}),
        ),
        tool("I'll think about it, bye", "end_call", json!({})),
    ];
    let Done { outputs, .. } = call(turns, move |config| {
        config.business.calendar.kind = CalendarKind::Caldav;
        config.business.calendar.caldav = caldav;
    })
    .await;
    assert_eq!(outputs[0]["error"], "slot_taken", "{outputs:?}");
    let alternatives = outputs[0]["alternatives"].as_array().unwrap();
    assert!(!alternatives.is_empty(), "{outputs:?}");
    let tz = repo_config().business.timezone().unwrap();
    for a in alternatives {
        let t = chrono::DateTime::parse_from_rfc3339(a["start"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        // A cleaning holds 70 minutes; none of them may touch the meeting.
        assert!(
            t + Duration::minutes(70) <= at || t >= at + Duration::hours(1),
            "{} overlaps the meeting",
            t.with_timezone(&tz)
        );
    }
}
