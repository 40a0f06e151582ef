//! What callers leave behind: messages taken by the assistant and voicemails.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{
    to_db, NewMessage, NewVoicemail, Voicemail, TRANSCRIPT_DONE, TRANSCRIPT_PENDING,
};
use super::rows::VoicemailRow;
use super::schema::{messages, voicemails};
use super::Store;

impl Store {
    /// Stores a message for the business and returns its id.
    pub async fn add_message(&self, msg: NewMessage) -> Result<i64, StoreError> {
        let created_at = to_db(Utc::now());
        db_write!(self, |conn| {
            let id = diesel::insert_into(messages::table)
                .values((
                    messages::call_sid.eq(msg.call_sid.as_deref()),
                    messages::business_number.eq(&msg.business_number),
                    messages::caller_name.eq(&msg.caller_name),
                    messages::callback_number.eq(&msg.callback_number),
                    messages::subject.eq(&msg.subject),
                    messages::body.eq(&msg.body),
                    messages::urgency.eq(&msg.urgency),
                    messages::created_at.eq(created_at),
                ))
                .returning(messages::id)
                .get_result::<i64>(conn)
                .await?;
            Ok(id)
        })
    }

    /// Stores a voicemail and returns its id. Idempotent on `recording_sid`
    /// (Twilio retries its recording callback): a repeat returns the id of the
    /// voicemail already stored and changes nothing. A voicemail without a
    /// transcript and `pending` set waits for [`Store::finish_voicemail`].
    pub async fn add_voicemail(&self, vm: NewVoicemail) -> Result<i64, StoreError> {
        let created_at = to_db(Utc::now());
        db_write!(self, |conn| {
            let inserted = diesel::insert_into(voicemails::table)
                .values((
                    voicemails::call_sid.eq(&vm.call_sid),
                    voicemails::recording_sid.eq(&vm.recording_sid),
                    voicemails::recording_url.eq(Some(&vm.recording_url)),
                    voicemails::duration_secs.eq(vm.duration_secs),
                    voicemails::transcript.eq(vm.transcript.as_deref()),
                    voicemails::created_at.eq(created_at),
                    voicemails::transcript_status.eq(if vm.pending {
                        TRANSCRIPT_PENDING
                    } else {
                        TRANSCRIPT_DONE
                    }),
                ))
                .on_conflict(voicemails::recording_sid)
                .do_nothing()
                .returning(voicemails::id)
                .get_result::<i64>(conn)
                .await
                .optional()?;
            match inserted {
                Some(id) => Ok(id),
                None => Ok(voicemails::table
                    .filter(voicemails::recording_sid.eq(&vm.recording_sid))
                    .select(voicemails::id)
                    .first::<i64>(conn)
                    .await?),
            }
        })
    }

    /// The transcript step of voicemail `id` is over: `transcript` is what
    /// it produced (`None` when there was nothing to transcribe or it failed).
    pub async fn finish_voicemail(
        &self,
        id: i64,
        transcript: Option<&str>,
    ) -> Result<(), StoreError> {
        db_write!(self, |conn| {
            diesel::update(voicemails::table.filter(voicemails::id.eq(id)))
                .set((
                    voicemails::transcript.eq(transcript),
                    voicemails::transcript_status.eq(TRANSCRIPT_DONE),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    /// Voicemails stored before `before` still waiting for their transcript
    /// step: an instance died between storing and transcribing them.
    pub async fn pending_voicemails(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Voicemail>, StoreError> {
        let before = to_db(before);
        db_run!(self, |conn| {
            let rows: Vec<VoicemailRow> = voicemails::table
                .filter(voicemails::transcript_status.eq(TRANSCRIPT_PENDING))
                .filter(voicemails::created_at.lt(before))
                .order(voicemails::id.asc())
                .limit(limit)
                .select(VoicemailRow::as_select())
                .load(conn)
                .await?;
            Ok::<_, StoreError>(rows.into_iter().map(Voicemail::from).collect())
        })
    }
}
