//! Twilio's `recordingStatusCallback` parameters (§1 of
//! `shared/protocols/twilio-voice.md`), read into a typed value.

/// `RecordingStatus` as Twilio reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingStatus {
    InProgress,
    Completed,
    /// The caller hung up before saying anything: there is no recording.
    Absent,
    /// Anything newer Twilio may add; ignored, but logged.
    Other(String),
}

impl RecordingStatus {
    fn parse(s: &str) -> Self {
        match s {
            "in-progress" => Self::InProgress,
            "completed" => Self::Completed,
            "absent" => Self::Absent,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Absent => "absent",
            Self::Other(s) => s,
        }
    }
}

/// One recording status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingCallback {
    pub account_sid: String,
    pub call_sid: String,
    /// `RE` + 32 hex.
    pub recording_sid: String,
    /// Without extension, as Twilio sends it; needs Basic auth to download.
    pub recording_url: String,
    pub status: RecordingStatus,
    pub duration_secs: i32,
    pub channels: u8,
    /// `RecordVerb` for a `<Record>` voicemail.
    pub source: String,
}

/// A callback that cannot describe a recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("recording callback without {0}")]
    Missing(&'static str),
    #[error("recording callback with an invalid {name}: {value:?}")]
    Invalid { name: &'static str, value: String },
}

fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

impl RecordingCallback {
    /// Reads the form parameters of a callback. Only what the pipeline cannot
    /// do without is required; a duration or channel count that does not
    /// parse counts as 0 or 1 (they are informative).
    pub fn from_params(params: &[(String, String)]) -> Result<Self, CallbackError> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(CallbackError::Missing(name));
        let sid = |name: &'static str, prefix: &str| {
            let value = required(name)?;
            if is_sid(value, prefix) {
                Ok(value.to_owned())
            } else {
                Err(CallbackError::Invalid {
                    name,
                    value: value.chars().take(64).collect(),
                })
            }
        };
        let recording_url = required("RecordingUrl")?;
        if !(recording_url.starts_with("https://") || recording_url.starts_with("http://")) {
            return Err(CallbackError::Invalid {
                name: "RecordingUrl",
                value: recording_url.chars().take(200).collect(),
            });
        }
        Ok(Self {
            account_sid: sid("AccountSid", "AC")?,
            call_sid: sid("CallSid", "CA")?,
            recording_sid: sid("RecordingSid", "RE")?,
            recording_url: recording_url.to_owned(),
            status: RecordingStatus::parse(required("RecordingStatus")?),
            duration_secs: get("RecordingDuration")
                .and_then(|d| d.parse::<i32>().ok())
                .filter(|d| *d >= 0)
                .unwrap_or(0),
            channels: get("RecordingChannels")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            source: get("RecordingSource").unwrap_or("").to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "CA0123456789abcdef0123456789abcdef";
    const REC: &str = "RE0123456789abcdef0123456789abcdef";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn params(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("AccountSid", ACCOUNT),
            ("CallSid", CALL),
            ("RecordingSid", REC),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
            ),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "14"),
            ("RecordingChannels", "1"),
            ("RecordingStartTime", "Mon, 04 May 2026 14:00:00 +0000"),
            ("RecordingSource", "RecordVerb"),
            ("RecordingTrack", "inbound"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in overrides {
            p.retain(|(name, _)| name != k);
            if !v.is_empty() {
                p.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        p
    }

    #[test]
    fn a_completed_callback_is_read() {
        let cb = RecordingCallback::from_params(&params(&[])).unwrap();
        assert_eq!(cb.call_sid, CALL);
        assert_eq!(cb.recording_sid, REC);
        assert_eq!(cb.account_sid, ACCOUNT);
        assert_eq!(cb.status, RecordingStatus::Completed);
        assert_eq!(cb.duration_secs, 14);
        assert_eq!(cb.channels, 1);
        assert_eq!(cb.source, "RecordVerb");
        assert!(cb.recording_url.ends_with(REC));
    }

    #[test]
    fn statuses_are_typed() {
        for (s, expected) in [
            ("absent", RecordingStatus::Absent),
            ("in-progress", RecordingStatus::InProgress),
            ("deleted", RecordingStatus::Other("deleted".into())),
        ] {
            let cb = RecordingCallback::from_params(&params(&[("RecordingStatus", s)])).unwrap();
            assert_eq!(cb.status, expected);
            assert_eq!(cb.status.as_str(), s);
        }
    }

    #[test]
    fn missing_or_malformed_identifiers_are_refused() {
        assert_eq!(
            RecordingCallback::from_params(&params(&[("RecordingSid", "")])),
            Err(CallbackError::Missing("RecordingSid"))
        );
        assert!(matches!(
            RecordingCallback::from_params(&params(&[("RecordingSid", "RE../../etc")])),
            Err(CallbackError::Invalid {
                name: "RecordingSid",
                ..
            })
        ));
        assert!(matches!(
            RecordingCallback::from_params(&params(&[("CallSid", REC)])),
            Err(CallbackError::Invalid {
                name: "CallSid",
                ..
            })
        ));
        assert!(matches!(
            RecordingCallback::from_params(&params(&[("RecordingUrl", "file:///etc/passwd")])),
            Err(CallbackError::Invalid {
                name: "RecordingUrl",
                ..
            })
        ));
        assert_eq!(
            RecordingCallback::from_params(&params(&[("RecordingStatus", "")])),
            Err(CallbackError::Missing("RecordingStatus"))
        );
    }

    #[test]
    fn informative_numbers_that_do_not_parse_fall_back() {
        let cb = RecordingCallback::from_params(&params(&[
            ("RecordingDuration", "-3"),
            ("RecordingChannels", "two"),
        ]))
        .unwrap();
        assert_eq!((cb.duration_secs, cb.channels), (0, 1));
    }
}
