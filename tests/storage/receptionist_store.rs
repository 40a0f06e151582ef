//! The receptionist's database work on both backends: contacts loaded from
//! the configuration and found by number, and a message taken through the
//! tool — stored and queued for notification, or refused without a trace.

use std::sync::Arc;

use crate::store_support::{on_both, TestDb};
use diesel::connection::Connection;
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::AsyncConnection;
use frontdesk::config::business::Contact;
use frontdesk::config::Config;
use frontdesk::store::{Backend, KnownCaller, Store};
use frontdesk::tools::caller::seed_contacts;
use frontdesk::tools::{ToolContext, Toolbox};
use serde_json::{json, Value};

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT COUNT(*) AS n …` on a connection of its own.
async fn count(db: &TestDb, sql: &str) -> i64 {
    let rows: Vec<Count> = match db.backend {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            diesel::RunQueryDsl::load(diesel::sql_query(sql), &mut conn).unwrap()
        }
        Backend::Postgres => {
            let mut conn = diesel_async::AsyncPgConnection::establish(&db.url)
                .await
                .unwrap();
            diesel_async::RunQueryDsl::load(diesel::sql_query(sql), &mut conn)
                .await
                .unwrap()
        }
    };
    rows[0].n
}

fn config() -> Config {
    let mut c = Config::default();
    c.business.contacts = vec![Contact {
        phone: "+1 (500) 555-0006".into(),
        name: "Dana Whitfield".into(),
        vip: true,
        notes: "Prefers afternoon appointments.".into(),
    }];
    c.notifications.smtp_url = "smtp://127.0.0.1:9?tls=none".into();
    c.notifications.email_to = vec!["desk@harbordental.example".into()];
    c.notifications.sms_to = vec!["+15551239999".into()];
    c
}

fn context(store: Store, config: &Config, caller: &str) -> ToolContext {
    ToolContext {
        call_sid: CALL_SID.into(),
        caller: caller.into(),
        called: "+15551230000".into(),
        now: chrono::Utc::now(),
        store,
        config: Arc::new(config.clone()),
    }
}

async fn run(config: &Config, ctx: ToolContext, tool: &str, args: Value) -> Value {
    let tb = Toolbox::standard(config).unwrap();
    let (out, _) = tb.run(tool, &args.to_string(), ctx).await;
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn contacts_are_loaded_and_found_by_number() {
    on_both(|store: Store, db: TestDb| async move {
        let mut c = config();
        seed_contacts(&store, &c.business).await;
        let business = c.business.business.phone.clone();
        let dana = store
            .find_contact(&business, "+15005550006")
            .await
            .unwrap()
            .expect("Dana is known");
        assert_eq!(
            dana,
            KnownCaller {
                phone: "+15005550006".into(),
                name: "Dana Whitfield".into(),
                vip: true,
                notes: "Prefers afternoon appointments.".into(),
            }
        );

        // A restart with changed contacts updates in place: one row, new values.
        c.business.contacts[0].vip = false;
        seed_contacts(&store, &c.business).await;
        seed_contacts(&store, &c.business).await;
        let again = store
            .find_contact(&business, "+15005550006")
            .await
            .unwrap()
            .unwrap();
        assert!(!again.vip);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM contacts").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM businesses").await, 1);

        // The tool, from Dana's phone and from a stranger's.
        let out = run(
            &c,
            context(store.clone(), &c, "+15005550006"),
            "lookup_caller",
            json!({}),
        )
        .await;
        assert_eq!(out["name"], "Dana Whitfield", "{out}");
        assert_eq!(out["notes"], "Prefers afternoon appointments.");
        let out = run(
            &c,
            context(store.clone(), &c, "+15550001111"),
            "lookup_caller",
            json!({}),
        )
        .await;
        assert_eq!(out["known"], false, "{out}");
        db
    })
    .await;
}

#[tokio::test]
async fn a_message_is_stored_and_queued_or_refused_whole() {
    on_both(|store: Store, db: TestDb| async move {
        let c = config();
        let good = json!({
            "caller_name": "Sam Ortiz",
            "callback_number": "555-867-5309",
            "subject": "Billing question",
            "body": "Please call about my last statement.",
            "urgency": "urgent"
        });
        let out = run(&c, context(store.clone(), &c, "+15550001111"), "take_message", good.clone()).await;
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["callback_number"], "+15558675309");
        let id = out["message_id"].as_i64().unwrap();
        assert_eq!(
            count(
                &db,
                &format!(
                    "SELECT COUNT(*) AS n FROM messages WHERE id = {id} AND call_sid = '{CALL_SID}' \
                     AND callback_number = '+15558675309' AND urgency = 'urgent'"
                )
            )
            .await,
            1
        );
        // Urgent: email and SMS, under the message's key.
        let queued = format!(
            "SELECT COUNT(*) AS n FROM outbox WHERE idempotency_key LIKE 'message:{CALL_SID}:{id}:%'"
        );
        assert_eq!(count(&db, &queued).await, 2);

        // Bad input: refused with a typed error, nothing written.
        for (key, value) in [
            ("callback_number", json!("1234567890123456789012345678901234567890")),
            ("body", json!("")),
            ("urgency", json!("tomorrow")),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            let out = run(&c, context(store.clone(), &c, "+15550001111"), "take_message", bad).await;
            assert_eq!(out["error"], "invalid_arguments", "{key}: {out}");
        }
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM messages").await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox").await, 2);
        db
    })
    .await;
}
