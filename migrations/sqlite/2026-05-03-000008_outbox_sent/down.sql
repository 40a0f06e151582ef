DROP INDEX outbox_pending;
ALTER TABLE outbox DROP COLUMN sent_at;
CREATE INDEX outbox_due ON outbox (dead, next_attempt_at);
