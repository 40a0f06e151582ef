//! Webhook bodies and signatures from the Internet: the form parser and the
//! X-Twilio-Signature checker never panic, a forged signature is refused, and
//! what the signer signs the checker accepts, for any URL and parameters.
#![no_main]

use frontdesk_wire::twilio_signature::{compute, Algorithm, Validator};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-auth-token";

fuzz_target!(|data: &[u8]| {
    // First line: URL; second: the signature header; the rest: the body.
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let url = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return;
    };
    let validator = Validator::new(TOKEN);
    let _ = validator.validate(&url, &params, &header);
    let _ = validator.validate_websocket(&url, &header);

    let good = compute(TOKEN, &url, &params, Algorithm::HmacSha1);
    assert!(
        validator.validate(&url, &params, &good).is_ok(),
        "own signature refused: {url:?} {params:?}"
    );
    if header != good {
        assert!(validator.validate(&url, &params, &header).is_err());
    }
});
