-- Frontdesk initial schema (SQLite). Mirrors migrations/postgres under the same
-- migration name; keep the two in step. Timestamps are stored as diesel writes
-- them ("YYYY-MM-DD HH:MM:SS[.fff]", UTC), which sort correctly as text.

CREATE TABLE businesses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    greeting TEXT NOT NULL DEFAULT '',
    persona TEXT NOT NULL DEFAULT '',
    recording_disclosure TEXT NULL
);

CREATE TABLE departments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    hours_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (business_id, name)
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    vip BOOLEAN NOT NULL DEFAULT 0 CHECK (vip IN (0, 1)),
    notes TEXT NOT NULL DEFAULT '',
    UNIQUE (business_id, phone)
);

CREATE TABLE calls (
    call_sid TEXT PRIMARY KEY NOT NULL,
    business_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NULL,
    outcome TEXT NULL,
    failure_reason TEXT NULL,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    input_audio_tokens BIGINT NOT NULL DEFAULT 0,
    output_audio_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX calls_started_at ON calls (started_at);

CREATE TABLE call_events (
    call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    seq BIGINT NOT NULL CHECK (seq >= 1),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (call_sid, seq)
);

-- Gap-free event sequence per call, starting at 1: an existing (call_sid, seq)
-- is skipped silently (a retried batch), anything but max+1 is rejected.
-- SQLite has one writer at a time, so the max cannot change underneath us.
CREATE TRIGGER call_events_seq_guard
BEFORE INSERT ON call_events
BEGIN
    SELECT RAISE(IGNORE)
    WHERE EXISTS (SELECT 1 FROM call_events WHERE call_sid = NEW.call_sid AND seq = NEW.seq);
    SELECT RAISE(ABORT, 'call_events seq gap: seq must be the call''s last seq + 1')
    WHERE NEW.seq <> (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_sid = NEW.call_sid);
END;

CREATE TABLE transcript_turns (
    call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    speaker TEXT NOT NULL,
    text TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (call_sid, seq)
);

CREATE TABLE tool_invocations (
    call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    tool_call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    result TEXT NOT NULL,
    latency_ms BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (call_sid, tool_call_id)
);

CREATE TABLE call_usage (
    call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    response_id TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    input_audio_tokens BIGINT NOT NULL,
    output_audio_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (call_sid, response_id)
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NULL,
    business_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    callback_number TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    urgency TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_call_sid ON messages (call_sid);

CREATE TABLE appointments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_number TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT appointments_ends_after_start CHECK (ends_at > starts_at)
);
CREATE INDEX appointments_business_starts ON appointments (business_number, starts_at);

-- No two booked appointments of one business overlap (half-open ranges, so
-- touching is allowed; cancelled ones never block). Race-free because SQLite
-- serialises writers; bookings use BEGIN IMMEDIATE.
CREATE TRIGGER appointments_no_overlap_insert
BEFORE INSERT ON appointments
WHEN NEW.status = 'booked'
BEGIN
    SELECT RAISE(ABORT, 'appointment overlaps an existing booking')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE business_number = NEW.business_number
          AND status = 'booked'
          AND starts_at < NEW.ends_at
          AND NEW.starts_at < ends_at
    );
END;

CREATE TRIGGER appointments_no_overlap_update
BEFORE UPDATE OF business_number, starts_at, ends_at, status ON appointments
WHEN NEW.status = 'booked'
BEGIN
    SELECT RAISE(ABORT, 'appointment overlaps an existing booking')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE id <> NEW.id
          AND business_number = NEW.business_number
          AND status = 'booked'
          AND starts_at < NEW.ends_at
          AND NEW.starts_at < ends_at
    );
END;

CREATE TABLE voicemails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL,
    recording_sid TEXT NOT NULL UNIQUE,
    recording_url TEXT NULL,
    duration_secs INTEGER NOT NULL,
    transcript TEXT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX voicemails_call_sid ON voicemails (call_sid);
CREATE INDEX voicemails_created_at ON voicemails (created_at);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT NULL,
    dead BOOLEAN NOT NULL DEFAULT 0 CHECK (dead IN (0, 1)),
    idempotency_key TEXT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_due ON outbox (dead, next_attempt_at);
