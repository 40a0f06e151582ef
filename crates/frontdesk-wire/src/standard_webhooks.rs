//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>), the
//! scheme the engine signs its HTTP-tool requests and event webhooks with:
//!
//! - headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature: v1,<base64 HMAC-SHA256>` (several space-separated
//!   signatures are allowed, e.g. during a secret rotation);
//! - the MAC covers `"{id}.{timestamp}.{body}"`;
//! - secrets are written `whsec_<base64 key>`.
//!
//! Signer and verifier live together so the simulators check exactly what the
//! engine sends; both are cross-checked against the official `openai` SDK's
//! `webhooks.verify_signature` (tests/oracles/standard_webhooks_oracle.rs).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a timestamp may be from the verifier's clock (the spec's and the
/// SDKs' default: five minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSignatureError {
    /// The secret is not `whsec_` followed by base64 (never shows the secret).
    #[error("the webhook secret must be whsec_ followed by base64")]
    BadSecret,
    #[error("the webhook secret is empty")]
    EmptySecret,
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is too old")]
    TooOld,
    #[error("webhook-timestamp is too new")]
    TooNew,
    #[error("no webhook-signature matches")]
    NoMatch,
}

/// A signing key, decoded from its `whsec_` form. `Debug` hides it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Parses `whsec_<base64>`. As the official SDKs do, a secret without
    /// the prefix is taken as raw key bytes.
    /// Taken exactly as given, as the SDKs do (a caller reading a secret
    /// from a file trims it first).
    pub fn parse(secret: &str) -> Result<Self, WebhookSignatureError> {
        if secret.is_empty() {
            return Err(WebhookSignatureError::EmptySecret);
        }
        match secret.strip_prefix(SECRET_PREFIX) {
            Some(b64) => {
                let key = B64
                    .decode(b64)
                    .map_err(|_| WebhookSignatureError::BadSecret)?;
                if key.is_empty() {
                    return Err(WebhookSignatureError::BadSecret);
                }
                Ok(SigningKey(key))
            }
            None => Ok(SigningKey(secret.as_bytes().to_vec())),
        }
    }

    /// A fresh random-looking secret in `whsec_` form from `bytes`.
    pub fn encode_secret(bytes: &[u8]) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(bytes))
    }

    /// `v1,<base64>` over `id.timestamp.body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            B64.encode(self.mac(id, &timestamp.to_string(), body))
        )
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// The three headers of a signed request, in order.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, id.to_string()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, self.sign(id, timestamp, body)),
        ]
    }

    /// Checks a request: the timestamp within `tolerance_secs` of `now`, and
    /// one of the `v1` signatures in `signature` matching (constant time).
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), WebhookSignatureError> {
        let id = id.ok_or(WebhookSignatureError::MissingHeader(HEADER_ID))?;
        let ts_text = timestamp.ok_or(WebhookSignatureError::MissingHeader(HEADER_TIMESTAMP))?;
        let signature = signature.ok_or(WebhookSignatureError::MissingHeader(HEADER_SIGNATURE))?;
        let ts: i64 = ts_text
            .trim()
            .parse()
            .map_err(|_| WebhookSignatureError::BadTimestamp)?;
        if now.saturating_sub(ts) > tolerance_secs {
            return Err(WebhookSignatureError::TooOld);
        }
        if ts > now.saturating_add(tolerance_secs) {
            return Err(WebhookSignatureError::TooNew);
        }
        let expected = self.mac(id, ts_text.trim(), body);
        let matches = signature
            .split_whitespace()
            // As the official SDK: a listed signature without its `v1,`
            // prefix is compared as it is.
            .map(|part| part.strip_prefix("v1,").unwrap_or(part))
            .filter_map(|b64| B64.decode(b64).ok())
            .any(|sig| subtle::ConstantTimeEq::ct_eq(sig.as_slice(), expected.as_slice()).into());
        if matches {
            Ok(())
        } else {
            Err(WebhookSignatureError::NoMatch)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The example of the Standard Webhooks specification (its test vectors,
    // also used by the reference libraries).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_specification_example() {
        let key = SigningKey::parse(SPEC_SECRET).unwrap();
        assert_eq!(key.sign(SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes()), SPEC_SIG);
        key.verify(
            Some(SPEC_ID),
            Some(&SPEC_TS.to_string()),
            Some(SPEC_SIG),
            SPEC_BODY.as_bytes(),
            SPEC_TS + 10,
            DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
    }

    #[test]
    fn rejects_tampering_stale_and_missing() {
        let key = SigningKey::parse(SPEC_SECRET).unwrap();
        let ts = SPEC_TS.to_string();
        let v = |id: Option<&str>, ts: Option<&str>, sig: Option<&str>, body: &str, now: i64| {
            key.verify(id, ts, sig, body.as_bytes(), now, DEFAULT_TOLERANCE_SECS)
        };
        use WebhookSignatureError as E;
        assert_eq!(
            v(Some(SPEC_ID), Some(&ts), Some(SPEC_SIG), "{}", SPEC_TS),
            Err(E::NoMatch)
        );
        assert_eq!(
            v(
                Some("msg_other"),
                Some(&ts),
                Some(SPEC_SIG),
                SPEC_BODY,
                SPEC_TS
            ),
            Err(E::NoMatch)
        );
        assert_eq!(
            v(
                Some(SPEC_ID),
                Some(&ts),
                Some(SPEC_SIG),
                SPEC_BODY,
                SPEC_TS + 301
            ),
            Err(E::TooOld)
        );
        assert_eq!(
            v(
                Some(SPEC_ID),
                Some(&ts),
                Some(SPEC_SIG),
                SPEC_BODY,
                SPEC_TS - 301
            ),
            Err(E::TooNew)
        );
        assert_eq!(
            v(None, Some(&ts), Some(SPEC_SIG), SPEC_BODY, SPEC_TS),
            Err(E::MissingHeader(HEADER_ID))
        );
        assert_eq!(
            v(
                Some(SPEC_ID),
                Some("soon"),
                Some(SPEC_SIG),
                SPEC_BODY,
                SPEC_TS
            ),
            Err(E::BadTimestamp)
        );
        // Rotation: any one of several signatures may match.
        let both = format!("v1,AAAA {SPEC_SIG}");
        assert_eq!(
            v(Some(SPEC_ID), Some(&ts), Some(&both), SPEC_BODY, SPEC_TS),
            Ok(())
        );
        // A signature of another scheme version is not accepted as v1.
        let v2 = SPEC_SIG.replace("v1,", "v2,");
        assert_eq!(
            v(Some(SPEC_ID), Some(&ts), Some(&v2), SPEC_BODY, SPEC_TS),
            Err(E::NoMatch)
        );
    }

    #[test]
    fn bad_secrets_are_refused_without_echoing_them() {
        // A secret is taken as given, spaces too, as the SDK takes it.
        assert!(SigningKey::parse("  ").is_ok());
        for s in ["", "whsec_", "whsec_***not base64***"] {
            let e = SigningKey::parse(s).unwrap_err();
            assert!(!e.to_string().contains("not base64***"), "{e}");
        }
        let key = SigningKey::parse("whsec_c2VjcmV0").unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
        assert_eq!(SigningKey::encode_secret(b"secret"), "whsec_c2VjcmV0");
    }
}
