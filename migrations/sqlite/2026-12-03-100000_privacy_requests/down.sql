DROP INDEX appointments_phone;
DROP INDEX calls_from_number;
DROP TABLE privacy_requests;
