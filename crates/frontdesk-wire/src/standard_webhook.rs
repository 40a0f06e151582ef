//! Standard Webhooks signatures, the way OpenAI signs its project webhooks
//! (`realtime.call.incoming` for the SIP connector).
//!
//! Mirrors the official `openai` SDK 3.51 (`lib/_webhooks.py`,
//! `client.webhooks.verify_signature`): the signed content is
//! `"{webhook-id}.{webhook-timestamp}.{raw body}"`, the key is the base64
//! part of a `whsec_` secret (or the secret's bytes otherwise), the MAC is
//! HMAC-SHA256, and `webhook-signature` is a space-separated list of
//! `v1,<base64>` of which one must match. Timestamps more than the tolerance
//! (300 s by default) off the clock are refused either way. See §8 of
//! `shared/protocols/openai-realtime.md`. The engine verifies with this and
//! the OpenAI simulator signs with it; an oracle test checks both against the
//! SDK.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The SDK's default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused. Never carries the secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("the webhook timestamp is too old ({0} s off)")]
    TooOld(i64),
    #[error("the webhook timestamp is too new ({0} s ahead)")]
    TooNew(i64),
    #[error("no webhook-signature matches the request")]
    Mismatch,
    #[error("the webhook secret is not valid base64 after whsec_")]
    BadSecret,
}

/// The HMAC key of a secret: `whsec_<base64>` decodes, anything else is
/// taken as bytes (as the SDK does).
pub fn secret_key(secret: &str) -> Result<Vec<u8>, WebhookError> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => BASE64.decode(b64).map_err(|_| WebhookError::BadSecret),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `webhook-signature` value for one request: `v1,<base64>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = secret_key(secret)?;
    let tag = mac(&key, id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", BASE64.encode(tag)))
}

/// Checks one webhook. `now` is unix seconds; `tolerance` `None` skips the
/// time check (only the oracle's worked example needs that).
pub fn verify(
    secret: &str,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance: Option<i64>,
) -> Result<(), WebhookError> {
    let id = id.ok_or(WebhookError::MissingHeader(ID_HEADER))?;
    let ts_text = timestamp.ok_or(WebhookError::MissingHeader(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if let Some(tol) = tolerance {
        if now - ts > tol {
            return Err(WebhookError::TooOld(now - ts));
        }
        if ts > now + tol {
            return Err(WebhookError::TooNew(ts - now));
        }
    }
    let key = secret_key(secret)?;
    let expected = mac(&key, id, ts_text, body).finalize().into_bytes();
    let expected = BASE64.encode(expected);
    let matched = signature
        .split_whitespace()
        .map(|s| s.strip_prefix("v1,").unwrap_or(s))
        .fold(false, |any, candidate| {
            any | bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
        });
    if matched {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const BODY: &str = r#"{"object":"event","id":"evt_685343a1381c819085d44c354e1b330e","type":"realtime.call.incoming","created_at":1750287018,"data":{"call_id":"rtc_abc123","sip_headers":[{"name":"From","value":"sip:+14155550123@sip.example.com"},{"name":"To","value":"sip:+18005550100@sip.example.com"},{"name":"Call-ID","value":"03782086-4ce9-44bf-8b0d-4e303d2cc590"}],"sip_media_security":"srtp"}}"#;

    #[test]
    fn the_protocol_references_worked_example_holds() {
        assert_eq!(BODY.len(), 376);
        let sig = sign(
            SECRET,
            "wh_685342e6c53c8190a1be43f081506c52",
            1750287078,
            BODY.as_bytes(),
        )
        .unwrap();
        assert_eq!(sig, "v1,b7B5g3PixiMPEp3WRecHCxLvzvboeYpXaovM78iNHiY=");
        let ok = verify(
            SECRET,
            Some("wh_685342e6c53c8190a1be43f081506c52"),
            Some("1750287078"),
            Some(&format!("v1,bogus {sig}")),
            BODY.as_bytes(),
            0,
            None,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn forged_expired_and_future_webhooks_are_refused() {
        let now = 1_750_000_000;
        let sig = sign(SECRET, "wh_1", now, b"{}").unwrap();
        let check = |id: &str, ts: i64, sig: &str, body: &[u8]| {
            verify(
                SECRET,
                Some(id),
                Some(&ts.to_string()),
                Some(sig),
                body,
                now,
                Some(300),
            )
        };
        assert_eq!(check("wh_1", now, &sig, b"{}"), Ok(()));
        assert_eq!(
            check("wh_1", now, &sig, b"{} "),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(check("wh_2", now, &sig, b"{}"), Err(WebhookError::Mismatch));
        let old = sign(SECRET, "wh_1", now - 301, b"{}").unwrap();
        assert_eq!(
            check("wh_1", now - 301, &old, b"{}"),
            Err(WebhookError::TooOld(301))
        );
        let new = sign(SECRET, "wh_1", now + 301, b"{}").unwrap();
        assert_eq!(
            check("wh_1", now + 301, &new, b"{}"),
            Err(WebhookError::TooNew(301))
        );
        let edge = sign(SECRET, "wh_1", now - 300, b"{}").unwrap();
        assert_eq!(check("wh_1", now - 300, &edge, b"{}"), Ok(()));
        assert_eq!(
            verify(SECRET, None, Some("1"), Some(&sig), b"{}", now, Some(300)),
            Err(WebhookError::MissingHeader(ID_HEADER))
        );
        assert_eq!(
            verify(
                SECRET,
                Some("wh_1"),
                Some("soon"),
                Some(&sig),
                b"{}",
                now,
                Some(300)
            ),
            Err(WebhookError::BadTimestamp)
        );
        assert_eq!(sign("whsec_!!", "a", 1, b""), Err(WebhookError::BadSecret));
    }
}
