-- A voicemail is stored the moment Twilio reports the recording, before it is
-- downloaded and transcribed: 'pending' until then, so a crash in between
-- loses nothing and the pending row is picked up again. Rows written before
-- this column were stored after transcription: 'done'.
ALTER TABLE voicemails ADD COLUMN transcript_status TEXT NOT NULL DEFAULT 'done';
CREATE INDEX voicemails_pending ON voicemails (created_at) WHERE transcript_status = 'pending';
