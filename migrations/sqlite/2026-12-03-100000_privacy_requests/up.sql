-- One row per caller data request answered (export or erase): proof that it
-- was handled, without the data. The caller is named only by a hash of the
-- number; `counts` is a JSON object of rows per kind.
CREATE TABLE privacy_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('export', 'erase')),
    subject_hash TEXT NOT NULL,
    counts TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX privacy_requests_subject ON privacy_requests (subject_hash);
CREATE INDEX calls_from_number ON calls (from_number);
CREATE INDEX appointments_phone ON appointments (phone);
