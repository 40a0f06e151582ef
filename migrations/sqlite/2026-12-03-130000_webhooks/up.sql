-- Event webhooks of one call to one endpoint share an ordering key: an item
-- is sent only after the items queued before it under the same key.
ALTER TABLE outbox ADD COLUMN ordering_key TEXT NULL;
CREATE INDEX outbox_ordering ON outbox (ordering_key, id) WHERE ordering_key IS NOT NULL;

-- Every delivery attempt of an outbox item, for operators
-- (`frontdesk webhooks deliveries`): when, how long, the HTTP status or the error.
CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code INTEGER NULL,
    error TEXT NULL
);
CREATE INDEX outbox_attempts_item ON outbox_attempts (outbox_id, id);
