-- The flight recorder: every input a call fed its state machine, and what the
-- machine answered, in chunks of consecutive steps (docs/replay.md). One row
-- per chunk, not per step: a 20-minute call is a few hundred rows. A chunk
-- written twice (a retried batch) is skipped by its key.
CREATE TABLE call_inputs (
    call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    chunk BIGINT NOT NULL CHECK (chunk >= 0),
    body TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (call_sid, chunk)
);
