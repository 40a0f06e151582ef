//! Rows as diesel reads and writes them, and their conversions to the public
//! types in `model` (which use `DateTime<Utc>` rather than naive timestamps).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::error::StoreError;
use super::model::{
    from_db, Appointment, AppointmentStatus, CallSummary, Message, ResponseUsage, TimelineEvent,
    ToolInvocation, TranscriptTurn, Usage, Voicemail, TRANSCRIPT_PENDING,
};
use super::schema::{
    appointments, call_events, call_usage, calls, messages, tool_invocations, transcript_turns,
    voicemails,
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = calls)]
pub(crate) struct CallRow {
    pub call_sid: String,
    pub business_number: String,
    pub from_number: String,
    pub to_number: String,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub failure_reason: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub input_audio_tokens: i64,
    pub output_audio_tokens: i64,
    pub cached_tokens: i64,
    pub transport: String,
}

impl From<CallRow> for CallSummary {
    fn from(r: CallRow) -> Self {
        CallSummary {
            call_sid: r.call_sid,
            business_number: r.business_number,
            from_number: r.from_number,
            to_number: r.to_number,
            transport: r.transport,
            started_at: from_db(r.started_at),
            ended_at: r.ended_at.map(from_db),
            outcome: r.outcome,
            failure_reason: r.failure_reason,
            usage: Usage {
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                input_audio_tokens: r.input_audio_tokens,
                output_audio_tokens: r.output_audio_tokens,
                cached_tokens: r.cached_tokens,
            },
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = call_events)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub kind: String,
    pub payload: String,
    pub at: NaiveDateTime,
}

impl From<EventRow> for TimelineEvent {
    fn from(r: EventRow) -> Self {
        let payload =
            serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::String(r.payload));
        TimelineEvent {
            seq: r.seq,
            kind: r.kind,
            payload,
            at: from_db(r.at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = transcript_turns)]
pub(crate) struct TurnRow {
    pub seq: i64,
    pub speaker: String,
    pub text: String,
    pub at: NaiveDateTime,
}

impl From<TurnRow> for TranscriptTurn {
    fn from(r: TurnRow) -> Self {
        TranscriptTurn {
            seq: r.seq,
            speaker: r.speaker,
            text: r.text,
            at: from_db(r.at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tool_invocations)]
pub(crate) struct ToolRow {
    pub tool_call_id: String,
    pub name: String,
    pub arguments: String,
    pub result: String,
    pub latency_ms: i64,
    pub at: NaiveDateTime,
}

impl From<ToolRow> for ToolInvocation {
    fn from(r: ToolRow) -> Self {
        ToolInvocation {
            tool_call_id: r.tool_call_id,
            name: r.name,
            arguments: r.arguments,
            result: r.result,
            latency_ms: r.latency_ms,
            at: from_db(r.at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = call_usage)]
pub(crate) struct UsageRow {
    pub response_id: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub input_audio_tokens: i64,
    pub output_audio_tokens: i64,
    pub cached_tokens: i64,
    pub at: NaiveDateTime,
}

impl From<UsageRow> for ResponseUsage {
    fn from(r: UsageRow) -> Self {
        ResponseUsage {
            response_id: r.response_id,
            usage: Usage {
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                input_audio_tokens: r.input_audio_tokens,
                output_audio_tokens: r.output_audio_tokens,
                cached_tokens: r.cached_tokens,
            },
            at: from_db(r.at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub call_sid: Option<String>,
    pub business_number: String,
    pub caller_name: String,
    pub callback_number: String,
    pub subject: String,
    pub body: String,
    pub urgency: String,
    pub created_at: NaiveDateTime,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: r.id,
            call_sid: r.call_sid,
            business_number: r.business_number,
            caller_name: r.caller_name,
            callback_number: r.callback_number,
            subject: r.subject,
            body: r.body,
            urgency: r.urgency,
            created_at: from_db(r.created_at),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = voicemails)]
pub(crate) struct VoicemailRow {
    pub id: i64,
    pub call_sid: String,
    pub recording_sid: String,
    pub recording_url: Option<String>,
    pub duration_secs: i32,
    pub transcript: Option<String>,
    pub created_at: NaiveDateTime,
    pub transcript_status: String,
}

impl From<VoicemailRow> for Voicemail {
    fn from(r: VoicemailRow) -> Self {
        Voicemail {
            id: r.id,
            call_sid: r.call_sid,
            recording_sid: r.recording_sid,
            recording_url: r.recording_url,
            duration_secs: r.duration_secs,
            transcript: r.transcript,
            created_at: from_db(r.created_at),
            pending: r.transcript_status == TRANSCRIPT_PENDING,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = appointments)]
pub(crate) struct AppointmentRow {
    pub id: i64,
    pub business_number: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub name: String,
    pub phone: String,
    pub purpose: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

impl TryFrom<AppointmentRow> for Appointment {
    type Error = StoreError;
    fn try_from(r: AppointmentRow) -> Result<Self, StoreError> {
        let status = AppointmentStatus::parse(&r.status).ok_or_else(|| {
            StoreError::Query(format!(
                "appointment {} has unknown status {:?}",
                r.id, r.status
            ))
        })?;
        Ok(Appointment {
            id: r.id,
            business_number: r.business_number,
            starts_at: from_db(r.starts_at),
            ends_at: from_db(r.ends_at),
            name: r.name,
            phone: r.phone,
            purpose: r.purpose,
            status,
            created_at: from_db(r.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_json_event_payload_is_kept_as_a_string() {
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let ev = TimelineEvent::from(EventRow {
            seq: 1,
            kind: "note".into(),
            payload: "not json".into(),
            at,
        });
        assert_eq!(ev.payload, serde_json::Value::String("not json".into()));
        let ev = TimelineEvent::from(EventRow {
            seq: 2,
            kind: "t".into(),
            payload: r#"{"to":"x"}"#.into(),
            at,
        });
        assert_eq!(ev.payload["to"], "x");
    }

    #[test]
    fn unknown_appointment_status_is_an_error_not_a_panic() {
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let row = AppointmentRow {
            id: 7,
            business_number: "+1".into(),
            starts_at: at,
            ends_at: at,
            name: String::new(),
            phone: String::new(),
            purpose: String::new(),
            status: "tentative".into(),
            created_at: at,
        };
        assert!(
            matches!(Appointment::try_from(row), Err(StoreError::Query(m)) if m.contains("tentative"))
        );
    }
}
