//! The receptionist's tools end to end: a simulated Twilio caller, the
//! engine on SQLite, and the Realtime model simulator calling
//! take_message, answer_question and transfer_call with fixed arguments.

use crate::common::*;
use chrono::Timelike;
use diesel::connection::Connection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use frontdesk::config::WeeklyHours;
use frontdesk::simulate::SIM_CALLER;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallReport, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn, SimRecord};
use serde_json::{json, Value};

fn one_tool_then_bye(name: &str, arguments: Value, reply: &str) -> ModelScript {
    ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns: vec![
            ScriptTurn::Tool {
                caller: "A question".into(),
                name: name.into(),
                arguments,
                reply_template: reply.into(),
            },
            ScriptTurn::Tool {
                caller: "Thanks, bye".into(),
                name: "end_call".into(),
                arguments: json!({}),
                reply_template: "Goodbye!".into(),
            },
        ],
        audio_ms_per_char: 5,
        ..ModelScript::default()
    }
}

/// Greeting, one question, then (if the call is still in the stream) goodbye.
fn two_turns() -> Vec<CallerStep> {
    vec![
        wait_for_reply(),
        CallerStep::Say {
            label: "question".into(),
            audio: synth_speech(900, 3),
        },
        wait_for_reply(),
        CallerStep::Say {
            label: "bye".into(),
            audio: synth_speech(700, 4),
        },
        CallerStep::WaitForClose { timeout_ms: 15_000 },
    ]
}

/// The outputs of every function call, parsed.
fn function_outputs(rec: &SimRecord) -> Vec<Value> {
    rec.connections
        .iter()
        .flat_map(|c| c.items_created.iter())
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| serde_json::from_str(i["output"].as_str().unwrap()).unwrap())
        .collect()
}

fn db(rig: &Rig) -> SqliteConnection {
    let path = rig.dir.path().join("frontdesk.db");
    SqliteConnection::establish(path.to_str().unwrap()).unwrap()
}

#[derive(QueryableByName, Debug)]
struct MessageRow {
    #[diesel(sql_type = Nullable<Text>)]
    call_sid: Option<String>,
    #[diesel(sql_type = Text)]
    caller_name: String,
    #[diesel(sql_type = Text)]
    callback_number: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    urgency: String,
}

#[derive(QueryableByName, Debug)]
struct OutboxRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Nullable<Text>)]
    idempotency_key: Option<String>,
}

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn assert_clean(report: &CallReport) {
    let t = report.timeline_text();
    assert!(report.problems.is_empty(), "{:?}\n{t}", report.problems);
    assert!(
        report.step_timeouts.is_empty(),
        "{:?}\n{t}",
        report.step_timeouts
    );
}

#[actix_rt::test]
async fn a_message_is_stored_and_its_notifications_queued() {
    let args = json!({
        "caller_name": "Dana Whitfield",
        "subject": "Crown came off",
        "body": "My crown came off at lunch, please call me back today.",
        "urgency": "urgent"
    });
    let rig = rig(
        one_tool_then_bye("take_message", args, "Saved: {output}"),
        |c| {
            c.notifications.smtp_url = "smtp://127.0.0.1:9?tls=none".into();
            c.notifications.email_to = vec!["desk@harbordental.example".into()];
            c.notifications.sms_to = vec!["+15551239999".into()];
        },
    )
    .await;
    let report = place_call(&rig.base, caller(two_turns())).await.unwrap();
    assert_clean(&report);

    let outputs = function_outputs(&rig.model.record());
    assert_eq!(outputs[0]["ok"], true, "{outputs:?}");
    assert_eq!(
        outputs[0]["callback_number"], SIM_CALLER,
        "defaults to the caller ID"
    );
    let id = outputs[0]["message_id"].as_i64().unwrap();

    let mut conn = db(&rig);
    let messages: Vec<MessageRow> = diesel::sql_query(
        "SELECT call_sid, caller_name, callback_number, subject, urgency FROM messages",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m.call_sid.as_deref(), Some(report.call_sid.as_str()));
    assert_eq!(m.caller_name, "Dana Whitfield");
    assert_eq!(m.callback_number, SIM_CALLER);
    assert_eq!(m.subject, "Crown came off");
    assert_eq!(m.urgency, "urgent");

    // Urgent: an email to the desk and a text to the on-call phone, both
    // under the message's key (the worker delivers them; tested elsewhere).
    let queued: Vec<OutboxRow> =
        diesel::sql_query("SELECT kind, payload, idempotency_key FROM outbox ORDER BY id")
            .load(&mut conn)
            .unwrap();
    let prefix = format!("message:{}:{id}:", report.call_sid);
    let kinds: Vec<&str> = queued
        .iter()
        .filter(|r| {
            r.idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with(&prefix))
        })
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(kinds, ["email", "sms"], "{queued:?}");
    assert!(
        queued[0].payload.contains("Crown came off"),
        "{}",
        queued[0].payload
    );
}

#[actix_rt::test]
async fn a_bad_message_is_refused_and_nothing_is_stored() {
    let args = json!({
        "caller_name": "Dana Whitfield",
        "callback_number": "1234567890123456789012345678901234567890",
        "subject": "Call me",
        "body": "Please call back."
    });
    let rig = rig(
        one_tool_then_bye("take_message", args, "Hmm: {output}"),
        |_| {},
    )
    .await;
    let report = place_call(&rig.base, caller(two_turns())).await.unwrap();
    assert_clean(&report);
    let outputs = function_outputs(&rig.model.record());
    assert_eq!(outputs[0]["error"], "invalid_arguments", "{outputs:?}");
    assert!(outputs[0]["message"]
        .as_str()
        .unwrap()
        .contains("callback_number"));
    let counts: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM messages")
        .load(&mut db(&rig))
        .unwrap();
    assert_eq!(counts[0].n, 0);
}

#[actix_rt::test]
async fn an_faq_answer_carries_its_source() {
    let rig = rig(
        one_tool_then_bye(
            "answer_question",
            json!({"question": "Where can I park when I come in?"}),
            "Our location page says: {output}",
        ),
        |_| {},
    )
    .await;
    let report = place_call(&rig.base, caller(two_turns())).await.unwrap();
    assert_clean(&report);
    let outputs = function_outputs(&rig.model.record());
    let faq = &outputs[0];
    assert_eq!(faq["found"], true, "{faq}");
    let top = &faq["passages"][0];
    assert_eq!(
        top["source"], "Location and Parking — Where do I park?",
        "{faq}"
    );
    assert!(top["text"].as_str().unwrap().contains("Mill Lane"), "{faq}");
    assert!(faq["next"]
        .as_str()
        .unwrap()
        .contains("only from these passages"));
}

/// A fixed-offset zone where it is around noon now, so "open all day" holds
/// for the whole test whatever the time of day it runs.
fn zone_at_noon() -> String {
    let offset = 12 - chrono::Utc::now().hour() as i32; // -11..=12
    match offset {
        0 => "Etc/GMT".to_string(),
        // POSIX sign convention: Etc/GMT-5 is five hours ahead of UTC.
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

#[actix_rt::test]
async fn a_transfer_leaves_the_stream_for_the_department() {
    let rig = rig(
        one_tool_then_bye(
            "transfer_call",
            json!({"department": "front desk"}),
            "Connecting you now.",
        ),
        |c| {
            let all_day = || vec!["00:00-23:59".parse().unwrap()];
            c.business.business.timezone = zone_at_noon();
            c.business.holidays.clear();
            let desk = c
                .business
                .departments
                .iter_mut()
                .find(|d| d.name == "Front desk")
                .unwrap();
            desk.hours = Some(WeeklyHours {
                monday: all_day(),
                tuesday: all_day(),
                wednesday: all_day(),
                thursday: all_day(),
                friday: all_day(),
                saturday: all_day(),
                sunday: all_day(),
            });
        },
    )
    .await;
    let report = place_call(&rig.base, caller(two_turns())).await.unwrap();
    let t = report.timeline_text();

    let outputs = function_outputs(&rig.model.record());
    assert_eq!(outputs[0]["ok"], true, "{outputs:?}");
    assert_eq!(outputs[0]["department"], "Front desk");

    assert!(
        report.closed_by_engine,
        "the engine did not leave the stream\n{t}"
    );
    let after = report
        .followups
        .iter()
        .find(|f| f.url.ends_with("/twilio/after-stream"))
        .unwrap_or_else(|| panic!("no after-stream request\n{t}"));
    assert!(after.twiml.contains("<Dial"), "{}", after.twiml);
    assert!(
        after.twiml.contains("<Number>+15551230100</Number>"),
        "{}",
        after.twiml
    );
    assert!(
        after.twiml.contains("callerId=\"+15551230000\""),
        "{}",
        after.twiml
    );
    // The goodbye turn was never needed: the call was put through.
    assert!(
        !rig.model
            .record()
            .transcript
            .iter()
            .any(|(_, s)| s == "Goodbye!"),
        "{t}"
    );
}

#[actix_rt::test]
async fn a_known_caller_is_named_in_the_session_instructions() {
    // The simulated caller's number is Dana Whitfield's in config/business.toml.
    let rig = rig(
        one_tool_then_bye("lookup_caller", json!({}), "Hello again: {output}"),
        |_| {},
    )
    .await;
    let report = place_call(&rig.base, caller(two_turns())).await.unwrap();
    assert_clean(&report);
    let rec = rig.model.record();
    let instructions = rec.connections[0].session_updates[0]["instructions"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        instructions.contains("The caller is Dana Whitfield"),
        "{instructions}"
    );
    assert!(
        instructions.contains("is a VIP. Greet them warmly by name"),
        "{instructions}"
    );

    // The greeting response addresses her by first name.
    let greeting = rec.connections[0]
        .client_events
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .find(|e| e["type"] == "response.create")
        .unwrap();
    let words = greeting["response"]["instructions"].as_str().unwrap();
    assert!(
        words.contains("\"Hi Dana! Thanks for calling Harbor Dental"),
        "{words}"
    );

    let outputs = function_outputs(&rec);
    assert_eq!(outputs[0]["known"], true, "{outputs:?}");
    assert_eq!(outputs[0]["name"], "Dana Whitfield");
    assert_eq!(outputs[0]["vip"], true);
    assert_client_events_valid(&rec);
}

#[actix_rt::test]
async fn an_unknown_caller_from_a_two_party_state_hears_the_disclosure() {
    let rig = rig(
        ModelScript {
            greeting: "Thanks for calling Harbor Dental.".into(),
            audio_ms_per_char: 5,
            ..ModelScript::default()
        },
        |_| {},
    )
    .await;
    let mut script = caller(vec![wait_for_reply(), CallerStep::HangUp]);
    script.from = "+14155550123".into(); // San Francisco
    let report = place_call(&rig.base, script).await.unwrap();
    assert_clean(&report);
    let rec = rig.model.record();
    let conn = &rec.connections[0];
    let instructions = conn.session_updates[0]["instructions"].as_str().unwrap();
    assert!(!instructions.contains("The caller is"), "{instructions}");
    let greeting = conn
        .client_events
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .find(|e| e["type"] == "response.create")
        .unwrap();
    let words = greeting["response"]["instructions"].as_str().unwrap();
    assert!(
        words.ends_with(
            "How can I help you today? This call may be recorded for quality and training.\""
        ),
        "{words}"
    );
}
