DROP TABLE outbox_attempts;
DROP INDEX outbox_ordering;
ALTER TABLE outbox DROP COLUMN ordering_key;
