//! Retention per kind of record: each kind has its own cutoff (or none,
//! kept forever). Recordings are two steps, because the audio lives at
//! Twilio: [`Store::expired_recordings`] lists them, the caller deletes
//! them there, [`Store::forget_recordings`] drops their URLs here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::error::StoreError;
use super::model::to_db;
use super::schema::{
    call_events, call_inputs, call_usage, calls, messages, tool_invocations, transcript_turns,
    voicemails,
};
use super::Store;

/// What is older than this is purged; `None` keeps the kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Transcript turns, and tool arguments and results, of calls started before.
    pub transcripts: Option<DateTime<Utc>>,
    /// Voicemail transcripts of voicemails stored before.
    pub voicemails: Option<DateTime<Utc>>,
    /// Messages taken before.
    pub messages: Option<DateTime<Utc>>,
    /// Calls started before, with everything of theirs.
    pub call_metadata: Option<DateTime<Utc>>,
}

/// Rows removed (or blanked) per kind by one purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub transcript_turns: u64,
    /// Chunks of flight records (they hold what was said).
    pub flight_chunks: u64,
    pub tool_runs_blanked: u64,
    pub voicemail_transcripts: u64,
    /// Recordings deleted at Twilio (or forgotten) and their URLs dropped.
    pub recordings: u64,
    pub messages: u64,
    pub calls: u64,
}

impl RetentionReport {
    pub fn total(&self) -> u64 {
        self.transcript_turns
            + self.flight_chunks
            + self.tool_runs_blanked
            + self.voicemail_transcripts
            + self.recordings
            + self.messages
            + self.calls
    }
}

/// A voicemail whose recording has outlived its retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRecording {
    pub voicemail_id: i64,
    pub recording_sid: String,
}

/// What a tool run keeps once its arguments and result are purged.
const PURGED: &str = "{}";

impl Store {
    /// Purges every kind past its cutoff, in one transaction. Running it
    /// again reports zero. Recordings are not touched here (see the module).
    pub async fn purge_kinds(&self, c: &RetentionCutoffs) -> Result<RetentionReport, StoreError> {
        let t = c.transcripts.map(to_db);
        let v = c.voicemails.map(to_db);
        let m = c.messages.map(to_db);
        let meta = c.call_metadata.map(to_db);
        db_write!(self, |conn| {
            let mut r = RetentionReport::default();
            if let Some(cutoff) = t {
                let old = calls::table
                    .filter(calls::started_at.lt(cutoff))
                    .select(calls::call_sid);
                r.transcript_turns = diesel::delete(
                    transcript_turns::table.filter(transcript_turns::call_sid.eq_any(old)),
                )
                .execute(conn)
                .await? as u64;
                let old = calls::table
                    .filter(calls::started_at.lt(cutoff))
                    .select(calls::call_sid);
                r.flight_chunks =
                    diesel::delete(call_inputs::table.filter(call_inputs::call_sid.eq_any(old)))
                        .execute(conn)
                        .await? as u64;
                let old = calls::table
                    .filter(calls::started_at.lt(cutoff))
                    .select(calls::call_sid);
                r.tool_runs_blanked = diesel::update(
                    tool_invocations::table
                        .filter(tool_invocations::call_sid.eq_any(old))
                        .filter(
                            tool_invocations::arguments
                                .ne(PURGED)
                                .or(tool_invocations::result.ne(PURGED)),
                        ),
                )
                .set((
                    tool_invocations::arguments.eq(PURGED),
                    tool_invocations::result.eq(PURGED),
                ))
                .execute(conn)
                .await? as u64;
            }
            if let Some(cutoff) = v {
                r.voicemail_transcripts = diesel::update(
                    voicemails::table
                        .filter(voicemails::created_at.lt(cutoff))
                        .filter(voicemails::transcript.is_not_null()),
                )
                .set(voicemails::transcript.eq(None::<String>))
                .execute(conn)
                .await? as u64;
            }
            if let Some(cutoff) = m {
                r.messages = diesel::delete(messages::table.filter(messages::created_at.lt(cutoff)))
                    .execute(conn)
                    .await? as u64;
            }
            if let Some(cutoff) = meta {
                let sids: Vec<String> = calls::table
                    .filter(calls::started_at.lt(cutoff))
                    .select(calls::call_sid)
                    .load(conn)
                    .await?;
                r.transcript_turns += diesel::delete(
                    transcript_turns::table.filter(transcript_turns::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await? as u64;
                diesel::delete(call_events::table.filter(call_events::call_sid.eq_any(&sids)))
                    .execute(conn)
                    .await?;
                r.flight_chunks +=
                    diesel::delete(call_inputs::table.filter(call_inputs::call_sid.eq_any(&sids)))
                        .execute(conn)
                        .await? as u64;
                diesel::delete(
                    tool_invocations::table.filter(tool_invocations::call_sid.eq_any(&sids)),
                )
                .execute(conn)
                .await?;
                diesel::delete(call_usage::table.filter(call_usage::call_sid.eq_any(&sids)))
                    .execute(conn)
                    .await?;
                // A voicemail whose recording is still at Twilio keeps its
                // row (and SID) until the recording is gone.
                diesel::delete(
                    voicemails::table
                        .filter(voicemails::call_sid.eq_any(&sids))
                        .filter(voicemails::recording_url.is_null()),
                )
                .execute(conn)
                .await?;
                r.calls = diesel::delete(calls::table.filter(calls::call_sid.eq_any(&sids)))
                    .execute(conn)
                    .await? as u64;
            }
            Ok(r)
        })
    }

    /// Voicemails stored before `cutoff` whose recording URL is still set.
    pub async fn expired_recordings(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<ExpiredRecording>, StoreError> {
        let cutoff = to_db(cutoff);
        db_run!(self, |conn| {
            let rows: Vec<(i64, String)> = voicemails::table
                .filter(voicemails::created_at.lt(cutoff))
                .filter(voicemails::recording_url.is_not_null())
                .order(voicemails::id.asc())
                .select((voicemails::id, voicemails::recording_sid))
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(voicemail_id, recording_sid)| ExpiredRecording {
                    voicemail_id,
                    recording_sid,
                })
                .collect())
        })
    }

    /// Drops the recording URLs of these voicemails (their audio is gone).
    pub async fn forget_recordings(&self, voicemail_ids: &[i64]) -> Result<u64, StoreError> {
        if voicemail_ids.is_empty() {
            return Ok(0);
        }
        db_run!(self, |conn| {
            Ok(diesel::update(
                voicemails::table
                    .filter(voicemails::id.eq_any(voicemail_ids))
                    .filter(voicemails::recording_url.is_not_null()),
            )
            .set(voicemails::recording_url.eq(None::<String>))
            .execute(conn)
            .await? as u64)
        })
    }
}
