-- How the call reached us: 'twilio' (Media Streams) or 'sip' (OpenAI's SIP
-- connector, docs/sip.md). Calls recorded before SIP were all Twilio's.
ALTER TABLE calls ADD COLUMN transport TEXT NOT NULL DEFAULT 'twilio' CHECK (transport IN ('twilio', 'sip'));
