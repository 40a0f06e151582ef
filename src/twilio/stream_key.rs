//! The per-call secret of a Media Stream. The signature on the WebSocket
//! upgrade covers only the fixed stream URL, so one captured handshake would
//! be valid for every call; the `<Stream>` Frontdesk answers with therefore
//! carries `<Parameter name="token">`, an HMAC of the CallSid that only
//! Frontdesk can compute, and a stream's `start` must give it back. Every
//! instance derives the same key from the Twilio auth token, so a stream may
//! land on any of them (failover).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The `<Parameter>` name that carries the token.
pub const TOKEN_PARAMETER: &str = "token";

const LABEL: &[u8] = b"frontdesk stream token v1";

#[derive(Clone)]
pub struct StreamKey([u8; 32]);

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKey(***)")
    }
}

impl StreamKey {
    /// From the Twilio auth token (the same on every instance), or a random
    /// key for this process when there is none (signatures off: local
    /// experiments, one instance).
    pub fn derive(auth_token: Option<&str>) -> Self {
        match auth_token.filter(|t| !t.is_empty()) {
            Some(token) => StreamKey(hmac(token.as_bytes(), LABEL)),
            None => StreamKey(rand::random()),
        }
    }

    /// The token of call `call_sid`'s streams.
    pub fn token(&self, call_sid: &str) -> String {
        B64.encode(hmac(&self.0, call_sid.as_bytes()))
    }

    /// Whether `token` is call `call_sid`'s, in constant time.
    pub fn verify(&self, call_sid: &str, token: &str) -> bool {
        let expected = self.token(call_sid);
        expected.len() == token.len() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_per_call_and_per_key() {
        let key = StreamKey::derive(Some("auth-token"));
        let a = "CA0123456789abcdef0123456789abcdef";
        let b = "CA0123456789abcdef0123456789abcdee";
        let token = key.token(a);
        assert!(key.verify(a, &token));
        assert!(!key.verify(b, &token), "another call's token");
        assert!(!key.verify(a, ""));
        assert!(!key.verify(a, &token[1..]));
        // Every instance with the same auth token agrees; another doesn't.
        assert!(StreamKey::derive(Some("auth-token")).verify(a, &token));
        assert!(!StreamKey::derive(Some("other-token")).verify(a, &token));
        assert_eq!(format!("{key:?}"), "StreamKey(***)");
    }
}
