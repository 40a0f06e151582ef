//! Redaction end to end, `strict`: a caller reads out a card number over
//! two turns and a date of birth; the model (simulator) has it all in the
//! clear during the call, while the stored transcript, tool run, message
//! and queued notifications hold only placeholders.

use std::time::Duration;

use crate::common::*;
use diesel::connection::Connection;
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use frontdesk::config::RedactionLevel;
use frontdesk::recorder::Flush;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::json;

const CARD_FIRST_HALF: &str =
    "Yes, I'd like to pay my balance. My card is four two four two, four two four two";
const CARD_SECOND_HALF: &str = "four two four two, four two four two.";
const DOB: &str = "And my date of birth is March 3rd, 1985.";
const CARD_WRITTEN: &str = "4242 4242 4242 4242";

#[derive(QueryableByName, Debug)]
struct TextRow {
    #[diesel(sql_type = Text)]
    text: String,
}

fn texts(conn: &mut SqliteConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<TextRow>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect()
}

/// Nothing of the card or the birth date, in any spelling, is left.
fn assert_clean_of_secrets(what: &str, text: &str) {
    for secret in [
        "four two four two",
        "4242 4242",
        "42424242",
        "March 3rd",
        "1985",
    ] {
        assert!(
            !text.contains(secret),
            "{what} still holds {secret:?}: {text}"
        );
    }
}

#[actix_rt::test]
async fn strict_mode_stores_placeholders_while_the_model_hears_everything() {
    let script = ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns: vec![
            ScriptTurn::Reply {
                caller: CARD_FIRST_HALF.into(),
                reply: "Go on.".into(),
            },
            ScriptTurn::Tool {
                caller: format!("{CARD_SECOND_HALF} {DOB}"),
                name: "take_message".into(),
                arguments: json!({
                    "caller_name": "Dana Whitfield",
                    "subject": format!("Pay balance with card {CARD_WRITTEN}"),
                    "body": format!("Card {CARD_WRITTEN}. Date of birth March 3rd, 1985."),
                }),
                reply_template: "Saved: {output}".into(),
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
    let rig = rig(script, |c| {
        c.business.privacy.redaction = RedactionLevel::Strict;
        c.notifications.smtp_url = "smtp://127.0.0.1:9?tls=none".into();
        c.notifications.email_to = vec!["desk@harbordental.example".into()];
    })
    .await;
    let say = |label: &str, seed| CallerStep::Say {
        label: label.into(),
        audio: synth_speech(800, seed),
    };
    let steps = vec![
        wait_for_reply(),
        say("card, first half", 3),
        wait_for_reply(),
        say("card, second half and birth date", 4),
        wait_for_reply(),
        say("bye", 5),
        CallerStep::WaitForClose { timeout_ms: 15_000 },
    ];
    let report = place_call(&rig.base, caller(steps)).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(rig
        .running
        .recorder
        .send(Flush {
            timeout: Duration::from_secs(10)
        })
        .await
        .unwrap());

    // The model had the clear text: it made the arguments, and the tool
    // gave its own words back to it.
    let rec = rig.model.record();
    let outputs: Vec<String> = rec
        .connections
        .iter()
        .flat_map(|c| c.items_created.iter())
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].as_str().unwrap().to_string())
        .collect();
    assert!(
        outputs.iter().any(|o| o.contains(CARD_WRITTEN)),
        "{outputs:?}"
    );

    let path = rig.dir.path().join("frontdesk.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let turns = texts(
        &mut conn,
        "SELECT speaker || ': ' || text AS text FROM transcript_turns ORDER BY seq",
    );
    let transcript = turns.join("\n");
    assert!(turns.len() >= 5, "{transcript}");
    assert_clean_of_secrets("the transcript", &transcript);
    assert!(transcript.contains("[card ••••4242]"), "{transcript}");
    assert!(transcript.contains("[date of birth]"), "{transcript}");
    // The card was read over two caller turns: both carry the placeholder.
    let caller_turns: Vec<&String> = turns.iter().filter(|t| t.starts_with("caller:")).collect();
    assert!(
        caller_turns[0].contains("[card ••••4242]") && caller_turns[1].contains("[card ••••4242]"),
        "{transcript}"
    );

    for (what, sql) in [
        (
            "tool arguments",
            "SELECT arguments AS text FROM tool_invocations",
        ),
        (
            "tool results",
            "SELECT result AS text FROM tool_invocations",
        ),
        (
            "the message",
            "SELECT subject || ' ' || body AS text FROM messages",
        ),
        ("the outbox", "SELECT payload AS text FROM outbox"),
        ("the timeline", "SELECT payload AS text FROM call_events"),
    ] {
        let rows = texts(&mut conn, sql);
        assert!(!rows.is_empty() || what == "the outbox", "{what}: no rows");
        for row in rows {
            assert_clean_of_secrets(what, &row);
        }
    }
    let message = texts(&mut conn, "SELECT body AS text FROM messages");
    assert_eq!(
        message,
        ["Card [card ••••4242]. Date of birth [date of birth]."]
    );
}
