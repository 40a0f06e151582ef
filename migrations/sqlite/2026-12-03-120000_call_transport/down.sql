ALTER TABLE calls DROP COLUMN transport;
