//! The store's public data types: what goes in and what comes out.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

fn twilio() -> String {
    "twilio".into()
}

/// One fact about one call, as the recorder hands it to [`super::Store::write_batch`].
/// Serialisable so the recorder can spill rows to a JSONL file while the
/// database is away and replay them later; replaying is always safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "row", rename_all = "snake_case")]
pub enum RecordRow {
    CallStarted {
        call_sid: String,
        /// `twilio` or `sip` (rows spilled before SIP existed are Twilio's).
        #[serde(default = "twilio")]
        transport: String,
        business_number: String,
        from_number: String,
        to_number: String,
        started_at: DateTime<Utc>,
    },
    /// `seq` starts at 1 and has no gaps within a call (enforced by the database).
    Event {
        call_sid: String,
        seq: i64,
        kind: String,
        /// JSON text.
        payload: String,
        at: DateTime<Utc>,
    },
    Turn {
        call_sid: String,
        seq: i64,
        speaker: String,
        text: String,
        at: DateTime<Utc>,
    },
    Tool {
        call_sid: String,
        tool_call_id: String,
        name: String,
        arguments: String,
        result: String,
        latency_ms: i64,
        at: DateTime<Utc>,
    },
    /// Token usage of one model response; `response_id` is what makes adding it
    /// to the call's totals happen once however often the row is replayed.
    Usage {
        call_sid: String,
        response_id: String,
        input_tokens: i64,
        output_tokens: i64,
        input_audio_tokens: i64,
        output_audio_tokens: i64,
        cached_tokens: i64,
        at: DateTime<Utc>,
    },
    /// A chunk of the call's flight record (`crate::flight`): `body` is its
    /// stored text; `(call_sid, chunk)` makes writing it twice harmless.
    Inputs {
        call_sid: String,
        chunk: i64,
        body: String,
        at: DateTime<Utc>,
    },
    /// The first end recorded for a call wins; later ones are ignored.
    CallEnded {
        call_sid: String,
        ended_at: DateTime<Utc>,
        outcome: String,
        failure_reason: Option<String>,
    },
}

impl RecordRow {
    pub fn call_sid(&self) -> &str {
        match self {
            RecordRow::CallStarted { call_sid, .. }
            | RecordRow::Event { call_sid, .. }
            | RecordRow::Turn { call_sid, .. }
            | RecordRow::Tool { call_sid, .. }
            | RecordRow::Usage { call_sid, .. }
            | RecordRow::Inputs { call_sid, .. }
            | RecordRow::CallEnded { call_sid, .. } => call_sid,
        }
    }

    /// When the fact happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            RecordRow::CallStarted { started_at: at, .. }
            | RecordRow::Event { at, .. }
            | RecordRow::Turn { at, .. }
            | RecordRow::Tool { at, .. }
            | RecordRow::Usage { at, .. }
            | RecordRow::Inputs { at, .. }
            | RecordRow::CallEnded { ended_at: at, .. } => *at,
        }
    }
}

/// Model token totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub input_audio_tokens: i64,
    pub output_audio_tokens: i64,
    pub cached_tokens: i64,
}

/// One row of the call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub call_sid: String,
    /// Empty while only rows other than `CallStarted` have been written for the call.
    pub business_number: String,
    pub from_number: String,
    pub to_number: String,
    /// `twilio` (Media Streams) or `sip` (OpenAI's SIP connector).
    pub transport: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub failure_reason: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEvent {
    pub seq: i64,
    pub kind: String,
    /// The stored JSON; a payload that is not JSON appears as a string.
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptTurn {
    pub seq: i64,
    pub speaker: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolInvocation {
    pub tool_call_id: String,
    pub name: String,
    pub arguments: String,
    pub result: String,
    pub latency_ms: i64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseUsage {
    pub response_id: String,
    #[serde(flatten)]
    pub usage: Usage,
    pub at: DateTime<Utc>,
}

/// The whole record of one call: what an export writes as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallSummary,
    /// State transitions and other events, in `seq` order.
    pub timeline: Vec<TimelineEvent>,
    pub transcript: Vec<TranscriptTurn>,
    pub tools: Vec<ToolInvocation>,
    pub usage_by_response: Vec<ResponseUsage>,
    pub messages: Vec<Message>,
    pub voicemails: Vec<Voicemail>,
}

/// What [`super::Store::purge_before`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub transcript_turns: u64,
    pub voicemails: u64,
    /// Flight-record chunks deleted (they hold what was said, too).
    pub flight_chunks: u64,
}

/// How many rows one call has in each per-call table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub events: i64,
    pub turns: i64,
    pub tools: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAppointment {
    pub business_number: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub name: String,
    pub phone: String,
    pub purpose: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "booked" => Some(AppointmentStatus::Booked),
            "cancelled" => Some(AppointmentStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appointment {
    pub id: i64,
    pub business_number: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub name: String,
    pub phone: String,
    pub purpose: String,
    pub status: AppointmentStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub call_sid: Option<String>,
    pub business_number: String,
    pub caller_name: String,
    pub callback_number: String,
    pub subject: String,
    pub body: String,
    pub urgency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: i64,
    pub call_sid: Option<String>,
    pub business_number: String,
    pub caller_name: String,
    pub callback_number: String,
    pub subject: String,
    pub body: String,
    pub urgency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVoicemail {
    pub call_sid: String,
    pub recording_sid: String,
    pub recording_url: String,
    pub duration_secs: i32,
    pub transcript: Option<String>,
    /// Stored ahead of its transcript step.
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voicemail {
    pub id: i64,
    pub call_sid: String,
    pub recording_sid: String,
    /// `None` once retention purged it.
    pub recording_url: Option<String>,
    pub duration_secs: i32,
    pub transcript: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Stored, not yet downloaded and transcribed (see `voicemail`).
    pub pending: bool,
}

/// `voicemails.transcript_status` of a voicemail waiting for its transcript.
pub const TRANSCRIPT_PENDING: &str = "pending";
/// … and of one whose transcript step is over (with or without a transcript).
pub const TRANSCRIPT_DONE: &str = "done";

/// Stored form of a UTC instant. PostgreSQL keeps microseconds, so finer
/// digits are dropped here for both backends to read back the same value.
pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

pub(crate) fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn record_rows_round_trip_through_json_lines() {
        let at = Utc.with_ymd_and_hms(2026, 5, 1, 9, 30, 0).unwrap();
        let rows = vec![
            RecordRow::CallStarted {
                transport: "twilio".into(),
                call_sid: "CA1".into(),
                business_number: "+15550100".into(),
                from_number: "+15550199".into(),
                to_number: "+15550100".into(),
                started_at: at,
            },
            RecordRow::Usage {
                call_sid: "CA1".into(),
                response_id: "resp_1".into(),
                input_tokens: 10,
                output_tokens: 20,
                input_audio_tokens: 5,
                output_audio_tokens: 15,
                cached_tokens: 2,
                at,
            },
            RecordRow::CallEnded {
                call_sid: "CA1".into(),
                ended_at: at,
                outcome: "completed".into(),
                failure_reason: None,
            },
        ];
        for row in rows {
            let line = serde_json::to_string(&row).unwrap();
            assert!(!line.contains('\n'));
            let back: RecordRow = serde_json::from_str(&line).unwrap();
            assert_eq!(back, row);
            assert_eq!(back.call_sid(), "CA1");
            assert_eq!(back.at(), at);
        }
    }

    #[test]
    fn stored_instants_keep_microseconds_only() {
        let t = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(from_db(to_db(t)).timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn appointment_status_text_round_trips() {
        for s in [AppointmentStatus::Booked, AppointmentStatus::Cancelled] {
            assert_eq!(AppointmentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AppointmentStatus::parse("maybe"), None);
    }
}
