//! Reading calls back: the list, the full export, row counts, and retention.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{to_db, CallDetail, CallSummary, PurgeReport, RowCounts};
use super::rows::{CallRow, EventRow, MessageRow, ToolRow, TurnRow, UsageRow, VoicemailRow};
use super::schema::{
    call_events, call_inputs, call_usage, calls, messages, tool_invocations, transcript_turns,
    voicemails,
};
use super::Store;

impl Store {
    /// The most recent calls first, at most `limit` of them.
    pub async fn list_calls(&self, limit: i64) -> Result<Vec<CallSummary>, StoreError> {
        let limit = limit.max(0);
        db_run!(self, |conn| {
            let rows: Vec<CallRow> = calls::table
                .select(CallRow::as_select())
                .order((calls::started_at.desc(), calls::call_sid.desc()))
                .limit(limit)
                .load(conn)
                .await?;
            Ok(rows.into_iter().map(CallSummary::from).collect())
        })
    }

    /// Everything recorded about one call, ready to serialise as its export;
    /// `None` when the call is unknown. Read in one transaction so the parts agree.
    pub async fn call_detail(&self, call_sid: &str) -> Result<Option<CallDetail>, StoreError> {
        db_read!(self, |conn| {
            let Some(call) = calls::table
                .find(call_sid)
                .select(CallRow::as_select())
                .first(conn)
                .await
                .optional()?
            else {
                return Ok(None);
            };
            let timeline: Vec<EventRow> = call_events::table
                .filter(call_events::call_sid.eq(call_sid))
                .order(call_events::seq.asc())
                .select(EventRow::as_select())
                .load(conn)
                .await?;
            let transcript: Vec<TurnRow> = transcript_turns::table
                .filter(transcript_turns::call_sid.eq(call_sid))
                .order(transcript_turns::seq.asc())
                .select(TurnRow::as_select())
                .load(conn)
                .await?;
            let tools: Vec<ToolRow> = tool_invocations::table
                .filter(tool_invocations::call_sid.eq(call_sid))
                .order((
                    tool_invocations::at.asc(),
                    tool_invocations::tool_call_id.asc(),
                ))
                .select(ToolRow::as_select())
                .load(conn)
                .await?;
            let usage: Vec<UsageRow> = call_usage::table
                .filter(call_usage::call_sid.eq(call_sid))
                .order((call_usage::at.asc(), call_usage::response_id.asc()))
                .select(UsageRow::as_select())
                .load(conn)
                .await?;
            let message_rows: Vec<MessageRow> = messages::table
                .filter(messages::call_sid.eq(call_sid))
                .order(messages::id.asc())
                .select(MessageRow::as_select())
                .load(conn)
                .await?;
            let voicemail_rows: Vec<VoicemailRow> = voicemails::table
                .filter(voicemails::call_sid.eq(call_sid))
                .order(voicemails::id.asc())
                .select(VoicemailRow::as_select())
                .load(conn)
                .await?;
            Ok(Some(CallDetail {
                call: call.into(),
                timeline: timeline.into_iter().map(Into::into).collect(),
                transcript: transcript.into_iter().map(Into::into).collect(),
                tools: tools.into_iter().map(Into::into).collect(),
                usage_by_response: usage.into_iter().map(Into::into).collect(),
                messages: message_rows.into_iter().map(Into::into).collect(),
                voicemails: voicemail_rows.into_iter().map(Into::into).collect(),
            }))
        })
    }

    /// How many events, transcript turns and tool invocations a call has.
    pub async fn count_rows(&self, call_sid: &str) -> Result<RowCounts, StoreError> {
        db_run!(self, |conn| {
            let events = call_events::table
                .filter(call_events::call_sid.eq(call_sid))
                .count()
                .get_result::<i64>(conn)
                .await?;
            let turns = transcript_turns::table
                .filter(transcript_turns::call_sid.eq(call_sid))
                .count()
                .get_result::<i64>(conn)
                .await?;
            let tools = tool_invocations::table
                .filter(tool_invocations::call_sid.eq(call_sid))
                .count()
                .get_result::<i64>(conn)
                .await?;
            Ok(RowCounts {
                events,
                turns,
                tools,
            })
        })
    }

    /// Retention. In one transaction:
    /// - deletes every transcript turn of every call that started before `cutoff`,
    ///   and its flight record (which holds what was said, too);
    /// - for every voicemail created before `cutoff`, sets `recording_url` and
    ///   `transcript` to NULL (the row itself, its recording SID and duration stay,
    ///   so the call's history still shows that a voicemail was left).
    ///
    /// Nothing else is touched: calls, call events, tool invocations, usage and
    /// messages are kept. The recording itself lives at Twilio; deleting it
    /// there is the caller's job. Running it again reports zero.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<PurgeReport, StoreError> {
        let cutoff = to_db(cutoff);
        db_write!(self, |conn| {
            let old_calls = calls::table
                .filter(calls::started_at.lt(cutoff))
                .select(calls::call_sid);
            let turns = diesel::delete(
                transcript_turns::table.filter(transcript_turns::call_sid.eq_any(old_calls)),
            )
            .execute(conn)
            .await?;
            let old_calls = calls::table
                .filter(calls::started_at.lt(cutoff))
                .select(calls::call_sid);
            let flight =
                diesel::delete(call_inputs::table.filter(call_inputs::call_sid.eq_any(old_calls)))
                    .execute(conn)
                    .await?;
            let blanked = diesel::update(
                voicemails::table
                    .filter(voicemails::created_at.lt(cutoff))
                    .filter(
                        voicemails::recording_url
                            .is_not_null()
                            .or(voicemails::transcript.is_not_null()),
                    ),
            )
            .set((
                voicemails::recording_url.eq(None::<String>),
                voicemails::transcript.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
            Ok(PurgeReport {
                transcript_turns: turns as u64,
                voicemails: blanked as u64,
                flight_chunks: flight as u64,
            })
        })
    }
}
