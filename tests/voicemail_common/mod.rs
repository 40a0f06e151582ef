//! Helpers shared by the voicemail tests: the outbox as rows, waiting for a
//! stored voicemail, and the engine settings that point at the simulators.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::Connection;
use frontdesk::config::Config;
use frontdesk::store::{Store, Voicemail};
use frontdesk_sim::transcription::TranscriptionHandle;
use frontdesk_sim::twilio_rest::TwilioRestHandle;

pub const TRANSCRIPT: &str =
    "Hi, this is Dana Whitfield. My crown came loose, please call me back at 555 0006.";
/// Any SMTP URL makes `route` queue an email; nothing is sent in these tests.
pub const DUMMY_SMTP: &str = "smtp://127.0.0.1:2525?tls=none";
pub const STAFF: &str = "desk@harbordental.example";

#[derive(diesel::QueryableByName, Debug, Clone)]
pub struct OutboxRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub payload: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub idempotency_key: Option<String>,
}

impl OutboxRow {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap()
    }
}

/// Every outbox row, oldest first, read outside the store.
pub async fn outbox(database_url: &str) -> Vec<OutboxRow> {
    const SQL: &str = "SELECT kind, payload, idempotency_key FROM outbox ORDER BY id";
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            diesel::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn).unwrap()
        }
        None => {
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
                    database_url,
                )
                .await
                .unwrap();
            diesel_async::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn)
                .await
                .unwrap()
        }
    }
}

/// Outbox rows of one voicemail, waiting up to 15 s for at least `n`.
pub async fn notifications_for(
    database_url: &str,
    recording_sid: &str,
    n: usize,
) -> Vec<OutboxRow> {
    let prefix = format!("voicemail:{recording_sid}:");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows: Vec<OutboxRow> = outbox(database_url)
            .await
            .into_iter()
            .filter(|r| {
                r.idempotency_key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&prefix))
            })
            .collect();
        if rows.len() >= n || tokio::time::Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The call's voicemails once every one has been through its transcript
/// step (15 s at most).
pub async fn wait_for_voicemail(store: &Store, call_sid: &str) -> Vec<Voicemail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(d) = store.call_detail(call_sid).await.unwrap() {
            // Stored at once, pending until its transcript step is over.
            if !d.voicemails.is_empty() && d.voicemails.iter().all(|v| !v.pending) {
                return d.voicemails;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no voicemail stored for {call_sid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Engine settings: the database, the Twilio REST stand-in, the
/// transcription simulator (or `stt_base` for one that is not there) and an
/// email recipient so voicemails are routed to email.
pub fn point_at_sims(c: &mut Config, database_url: &str, rest: &TwilioRestHandle, stt_base: &str) {
    c.storage.database_url = database_url.to_owned();
    c.twilio.rest_base_url = rest.base_url();
    c.knowledge.transcription_base_url = stt_base.to_owned();
    c.notifications.smtp_url = DUMMY_SMTP.to_owned();
    c.notifications.email_to = vec![STAFF.to_owned()];
    c.notifications.slack_webhook_url = None;
}

pub fn stt_base(stt: &TranscriptionHandle) -> String {
    stt.base_url()
}

/// A base URL where nothing listens (bound, then released).
pub fn dead_base_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/v1")
}

/// `Basic base64(account:token)`, as Twilio's API expects.
pub fn basic_auth(account: &str, token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{account}:{token}"))
    )
}

#[derive(diesel::QueryableByName, Debug, Clone, PartialEq, Eq)]
pub struct VoicemailRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub call_sid: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub recording_url: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub transcript: Option<String>,
}

/// Every voicemail row, read outside the store (the store reads voicemails
/// through their call, and these may have none).
pub async fn voicemail_rows(database_url: &str) -> Vec<VoicemailRow> {
    const SQL: &str = "SELECT call_sid, recording_url, transcript FROM voicemails ORDER BY id";
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            diesel::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn).unwrap()
        }
        None => {
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
                    database_url,
                )
                .await
                .unwrap();
            diesel_async::RunQueryDsl::load(diesel::sql_query(SQL), &mut conn)
                .await
                .unwrap()
        }
    }
}
