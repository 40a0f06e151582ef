//! A caller's data requests: everything stored about one phone number,
//! exported as one document or erased, and the audit row that says a
//! request was answered (without the data).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::contacts::KnownCaller;
use super::error::StoreError;
use super::model::{to_db, Appointment, CallDetail, Message};
use super::rows::{AppointmentRow, MessageRow};
use super::schema::{
    appointments, businesses, call_events, call_inputs, call_usage, calls, contacts, messages,
    outbox, privacy_requests, tool_invocations, transcript_turns, voicemails,
};
use super::Store;

/// Everything stored about one caller, grouped by the business that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerExport {
    pub phone: String,
    pub exported_at: DateTime<Utc>,
    pub businesses: Vec<BusinessRecords>,
}

/// One business's records of a caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BusinessRecords {
    pub business_number: String,
    /// The caller as a known contact of the business.
    pub contact: Option<KnownCaller>,
    /// Every call from the number: timeline, transcript, tools, usage, and
    /// the messages and voicemails left on it.
    pub calls: Vec<CallDetail>,
    /// Messages with the number as callback, not left on one of these calls.
    pub messages: Vec<Message>,
    pub appointments: Vec<Appointment>,
}

/// Rows per kind that a request found (export) or removed (erase).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallerCounts {
    pub calls: u64,
    pub transcript_turns: u64,
    pub events: u64,
    /// Chunks of the calls' flight records (they hold what was said).
    pub flight_chunks: u64,
    pub tool_runs: u64,
    pub usage: u64,
    pub messages: u64,
    pub voicemails: u64,
    pub appointments: u64,
    pub contacts: u64,
    pub outbox: u64,
}

impl CallerCounts {
    pub fn total(&self) -> u64 {
        self.calls
            + self.transcript_turns
            + self.events
            + self.flight_chunks
            + self.tool_runs
            + self.usage
            + self.messages
            + self.voicemails
            + self.appointments
            + self.contacts
            + self.outbox
    }
}

/// One answered request, as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivacyRequest {
    pub id: i64,
    /// `export` or `erase`.
    pub kind: String,
    pub subject_hash: String,
    /// [`CallerCounts`] as JSON.
    pub counts: String,
    pub at: DateTime<Utc>,
}

/// Writes one audit row; a macro because the body runs on either backend's
/// connection type.
macro_rules! insert_request {
    ($conn:expr, $kind:expr, $hash:expr, $counts:expr) => {{
        let counts = serde_json::to_string($counts).unwrap_or_else(|_| "{}".into());
        diesel::insert_into(privacy_requests::table)
            .values((
                privacy_requests::kind.eq($kind),
                privacy_requests::subject_hash.eq($hash),
                privacy_requests::counts.eq(counts),
                privacy_requests::at.eq(to_db(Utc::now())),
            ))
            .execute($conn)
            .await
            .map(|_| ())
    }};
}

fn group<'a>(
    by_business: &'a mut BTreeMap<String, BusinessRecords>,
    number: &str,
) -> &'a mut BusinessRecords {
    by_business
        .entry(number.to_string())
        .or_insert_with(|| BusinessRecords {
            business_number: number.to_string(),
            ..Default::default()
        })
}

/// Outbox payloads are JSON; the number appears in them as written. Only
/// E.164 numbers reach here (`+` and digits), so it holds no LIKE wildcard.
fn mentions(phone: &str) -> String {
    format!("%{phone}%")
}

impl Store {
    /// Every call, turn, message, booking, voicemail and contact entry of
    /// `phone`; `None` when nothing is stored about it.
    pub async fn caller_export(&self, phone: &str) -> Result<Option<CallerExport>, StoreError> {
        let (sids, standalone, appts, contact_rows) = db_read!(self, |conn| {
            let sids: Vec<String> = calls::table
                .filter(calls::from_number.eq(phone))
                .order((calls::started_at.asc(), calls::call_sid.asc()))
                .select(calls::call_sid)
                .load(conn)
                .await?;
            let standalone: Vec<MessageRow> = messages::table
                .filter(messages::callback_number.eq(phone))
                .filter(
                    messages::call_sid
                        .is_null()
                        .or(messages::call_sid.ne_all(sids.clone())),
                )
                .order(messages::id.asc())
                .select(MessageRow::as_select())
                .load(conn)
                .await?;
            let appts: Vec<AppointmentRow> = appointments::table
                .filter(appointments::phone.eq(phone))
                .order(appointments::id.asc())
                .select(AppointmentRow::as_select())
                .load(conn)
                .await?;
            let contact_rows: Vec<(String, String, bool, String)> = contacts::table
                .inner_join(businesses::table)
                .filter(contacts::phone.eq(phone))
                .select((
                    businesses::number,
                    contacts::name,
                    contacts::vip,
                    contacts::notes,
                ))
                .load(conn)
                .await?;
            Ok((sids, standalone, appts, contact_rows))
        })?;
        if sids.is_empty() && standalone.is_empty() && appts.is_empty() && contact_rows.is_empty() {
            return Ok(None);
        }
        let mut by_business: BTreeMap<String, BusinessRecords> = BTreeMap::new();
        for sid in &sids {
            // A call removed meanwhile is simply not exported.
            if let Some(detail) = self.call_detail(sid).await? {
                group(&mut by_business, &detail.call.business_number.clone())
                    .calls
                    .push(detail);
            }
        }
        for m in standalone {
            let m: Message = m.into();
            group(&mut by_business, &m.business_number.clone())
                .messages
                .push(m);
        }
        for a in appts {
            let a = Appointment::try_from(a)?;
            group(&mut by_business, &a.business_number.clone())
                .appointments
                .push(a);
        }
        for (number, name, vip, notes) in contact_rows {
            group(&mut by_business, &number).contact = Some(KnownCaller {
                phone: phone.to_string(),
                name,
                vip,
                notes,
            });
        }
        Ok(Some(CallerExport {
            phone: phone.to_string(),
            exported_at: Utc::now(),
            businesses: by_business.into_values().collect(),
        }))
    }

    /// The recording SIDs of the caller's voicemails (to delete at Twilio
    /// before the rows go).
    pub async fn caller_recordings(&self, phone: &str) -> Result<Vec<String>, StoreError> {
        db_run!(self, |conn| {
            let sids = calls::table
                .filter(calls::from_number.eq(phone))
                .select(calls::call_sid);
            Ok(voicemails::table
                .filter(voicemails::call_sid.eq_any(sids))
                .order(voicemails::id.asc())
                .select(voicemails::recording_sid)
                .load::<String>(conn)
                .await?)
        })
    }

    /// Deletes everything stored about `phone` in one transaction — calls
    /// with their timeline, transcript, tools and usage, messages (left on
    /// those calls or with the number as callback), voicemails, bookings,
    /// contact entries, and outbox items that mention the number — and
    /// writes an audit row holding `subject_hash` and the counts only.
    /// `None` (and nothing written) when nothing was stored.
    pub async fn erase_caller(
        &self,
        phone: &str,
        subject_hash: &str,
    ) -> Result<Option<CallerCounts>, StoreError> {
        let like = mentions(phone);
        db_write!(self, |conn| {
            let sids: Vec<String> = calls::table
                .filter(calls::from_number.eq(phone))
                .select(calls::call_sid)
                .load(conn)
                .await?;
            let mut c = CallerCounts {
                transcript_turns: diesel::delete(
                    transcript_turns::table.filter(transcript_turns::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64,
                events: diesel::delete(
                    call_events::table.filter(call_events::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64,
                flight_chunks: diesel::delete(
                    call_inputs::table.filter(call_inputs::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64,
                tool_runs: diesel::delete(
                    tool_invocations::table.filter(tool_invocations::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64,
                usage: diesel::delete(call_usage::table.filter(call_usage::call_sid.eq_any(&sids)))
                    .execute(conn)
                    .await? as u64,
                voicemails: diesel::delete(
                    voicemails::table.filter(voicemails::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64,
                ..CallerCounts::default()
            };
            c.messages = diesel::delete(
                messages::table.filter(
                    messages::call_sid
                        .eq_any(sids.iter().map(|s| Some(s.clone())).collect::<Vec<_>>())
                        .or(messages::callback_number.eq(phone)),
                ),
            )
            .execute(conn)
            .await? as u64;
            c.appointments =
                diesel::delete(appointments::table.filter(appointments::phone.eq(phone)))
                    .execute(conn)
                    .await? as u64;
            c.contacts = diesel::delete(contacts::table.filter(contacts::phone.eq(phone)))
                .execute(conn)
                .await? as u64;
            c.outbox = diesel::delete(outbox::table.filter(outbox::payload.like(&like)))
                .execute(conn)
                .await? as u64;
            c.calls = diesel::delete(calls::table.filter(calls::call_sid.eq_any(&sids)))
                .execute(conn)
                .await? as u64;
            if c.total() == 0 {
                return Ok(None);
            }
            insert_request!(conn, "erase", subject_hash, &c)?;
            Ok(Some(c))
        })
    }

    /// Audits an export.
    pub async fn record_export(
        &self,
        subject_hash: &str,
        counts: &CallerCounts,
    ) -> Result<(), StoreError> {
        db_write!(self, |conn| Ok(insert_request!(
            conn,
            "export",
            subject_hash,
            counts
        )?))
    }

    /// The audit trail, newest first.
    pub async fn privacy_requests(&self, limit: i64) -> Result<Vec<PrivacyRequest>, StoreError> {
        db_run!(self, |conn| {
            let rows: Vec<(i64, String, String, String, chrono::NaiveDateTime)> =
                privacy_requests::table
                    .order(privacy_requests::id.desc())
                    .limit(limit.max(0))
                    .select((
                        privacy_requests::id,
                        privacy_requests::kind,
                        privacy_requests::subject_hash,
                        privacy_requests::counts,
                        privacy_requests::at,
                    ))
                    .load(conn)
                    .await?;
            Ok(rows
                .into_iter()
                .map(|(id, kind, subject_hash, counts, at)| PrivacyRequest {
                    id,
                    kind,
                    subject_hash,
                    counts,
                    at: super::model::from_db(at),
                })
                .collect())
        })
    }
}
