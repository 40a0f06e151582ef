//! The business's privacy policy (`[privacy]` in `config/business.toml`):
//! how much of what callers say is redacted before it is stored or sent,
//! and how long each kind of record is kept.

use serde::{Deserialize, Serialize};

/// How much is redacted (`[privacy] redaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionLevel {
    /// Stored verbatim.
    Off,
    /// Payment cards, national identifiers, bank/IBAN numbers.
    #[default]
    Standard,
    /// Also dates of birth, email addresses and street addresses.
    Strict,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    pub redaction: RedactionLevel,
    pub retention: RetentionConfig,
}

/// Days each kind of record is kept (`[privacy.retention]`). Absent: the
/// engine's `storage.retention_days` for transcripts, recordings and
/// voicemails, forever for messages and call metadata (what the engine did
/// before there was a policy). `0` keeps that kind forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Transcript turns and tool arguments/results.
    pub transcripts: Option<u32>,
    /// Voicemail audio at Twilio (deleted there) and its URL here.
    pub recordings: Option<u32>,
    /// Voicemail transcripts.
    pub voicemails: Option<u32>,
    /// Messages taken for the staff.
    pub messages: Option<u32>,
    /// The calls themselves: numbers, timeline, usage (deleting them takes
    /// everything else of the call with them).
    pub call_metadata: Option<u32>,
}

/// Retention in days per kind, the fallback applied; `0` = keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionDays {
    pub transcripts: u32,
    pub recordings: u32,
    pub voicemails: u32,
    pub messages: u32,
    pub call_metadata: u32,
}

impl RetentionConfig {
    pub fn resolve(&self, fallback_days: u32) -> RetentionDays {
        RetentionDays {
            transcripts: self.transcripts.unwrap_or(fallback_days),
            recordings: self.recordings.unwrap_or(fallback_days),
            voicemails: self.voicemails.unwrap_or(fallback_days),
            messages: self.messages.unwrap_or(0),
            call_metadata: self.call_metadata.unwrap_or(0),
        }
    }
}

impl RetentionDays {
    pub fn any(&self) -> bool {
        [
            self.transcripts,
            self.recordings,
            self.voicemails,
            self.messages,
            self.call_metadata,
        ]
        .iter()
        .any(|d| *d > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_periods_fall_back_to_the_engine_setting() {
        let r = RetentionConfig {
            messages: Some(30),
            ..Default::default()
        }
        .resolve(90);
        assert_eq!((r.transcripts, r.recordings, r.voicemails), (90, 90, 90));
        assert_eq!((r.messages, r.call_metadata), (30, 0));
        assert!(!RetentionConfig::default().resolve(0).any());
    }
}
