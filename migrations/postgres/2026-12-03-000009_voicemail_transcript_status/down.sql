DROP INDEX voicemails_pending;
ALTER TABLE voicemails DROP COLUMN transcript_status;
