DROP TABLE outbox;
DROP TABLE voicemails;
DROP TABLE appointments;
DROP TABLE messages;
DROP TABLE call_usage;
DROP TABLE tool_invocations;
DROP TABLE transcript_turns;
DROP TRIGGER call_events_seq_guard ON call_events;
DROP TABLE call_events;
DROP FUNCTION call_events_seq_guard();
DROP TABLE calls;
DROP TABLE contacts;
DROP TABLE departments;
DROP TABLE businesses;
-- btree_gist is left installed: other schemas in the database may use it.
