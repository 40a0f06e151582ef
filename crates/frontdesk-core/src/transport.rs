//! How the call reaches us, and the commands that only one transport has.
//!
//! On `Twilio` the call's audio comes through a Media Stream we relay and
//! leaving the conversation means closing the stream so Twilio asks for
//! TwiML. On `Sip` (OpenAI's SIP connector) OpenAI answers the call and
//! carries the audio itself: we only control it over the sideband socket
//! and OpenAI's REST calls, so there is no stream, no codec and no TwiML,
//! and leaving means `refer` or `hangup`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Twilio,
    Sip,
}

impl Transport {
    /// The stored name (`calls.transport`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Twilio => "twilio",
            Transport::Sip => "sip",
        }
    }
}

/// OpenAI's REST calls on a SIP call (`/realtime/calls/{call_id}/…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SipCommand {
    /// `POST …/refer {"target_uri"}`: a SIP REFER to a `tel:` or `sip:` URI.
    /// Its answer comes back as `Event::DialFinished` (`completed` when
    /// OpenAI took the REFER, `failed` otherwise).
    Refer { target_uri: String },
    /// `POST …/hangup`.
    Hangup,
}

/// The `Refer-To` target for a directory number: `sip:`/`tel:` URIs as
/// they are, anything else as `tel:` (directory numbers are E.164).
pub fn refer_target(number: &str) -> String {
    let n = number.trim();
    if n.starts_with("sip:") || n.starts_with("sips:") || n.starts_with("tel:") {
        n.to_string()
    } else {
        format!("tel:{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_numbers_become_tel_uris_and_uris_stay() {
        assert_eq!(refer_target("+15551230100"), "tel:+15551230100");
        assert_eq!(
            refer_target("sip:desk@pbx.example.com"),
            "sip:desk@pbx.example.com"
        );
        assert_eq!(refer_target("tel:+1555"), "tel:+1555");
    }
}
