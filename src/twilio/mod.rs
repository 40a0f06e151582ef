//! Twilio Programmable Voice, at the wire level.
//!
//! Everything here follows Twilio's documented wire formats to the field name:
//! - [`signature`] (from `frontdesk-wire`): `X-Twilio-Signature` checks for webhooks and the Media
//!   Streams WebSocket upgrade;
//! - [`twiml`]: a typed TwiML builder whose output matches the official SDK;
//! - [`media`]: Media Streams JSON frames in both directions, and [`ToTwilio`],
//!   what a call sends down its stream;
//! - [`rest`]: the REST calls used during and after a call.

pub mod media;
mod outbound;
pub mod rest;
pub use frontdesk_wire::twilio_signature as signature;
mod stream_key;
pub mod twiml;

pub use outbound::ToTwilio;
pub use stream_key::{StreamKey, TOKEN_PARAMETER};

/// A CallSid as Twilio issues them: `CA` and 32 lower-case hex digits.
/// Anything else is refused before it reaches a call, a log or the database.
pub fn is_call_sid(s: &str) -> bool {
    s.len() == 34
        && s.starts_with("CA")
        && s.bytes()
            .skip(2)
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_sids_look_like_twilio_s() {
        assert!(super::is_call_sid("CA0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "CA",
            "CA0123456789abcdef0123456789abcde",
            "CA0123456789abcdef0123456789abcdef0",
            "CA0123456789ABCDEF0123456789abcdef",
            "XX0123456789abcdef0123456789abcdef",
            "CA0123456789abcdef0123456789abcde\n",
            "CAévénement0123456789abcdef012345",
        ] {
            assert!(!super::is_call_sid(bad), "{bad:?}");
        }
    }
}
