-- A sent notification keeps its row (and so its idempotency key) for a while:
-- a webhook that Twilio retries after the email went out must not queue it again.
ALTER TABLE outbox ADD COLUMN sent_at TIMESTAMP NULL;
DROP INDEX outbox_due;
-- The worker only ever looks for pending rows.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE NOT dead AND sent_at IS NULL;
