//! `X-Twilio-Signature` computation and validation.
//!
//! Mirrors `twilio.request_validator.RequestValidator` (SDK 9.13): the signed
//! string is the full URL followed by every form parameter name and each of its
//! distinct values, all in code-point order, with no separators. See §2 of
//! `shared/protocols/twilio-voice.md`.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// Header naming the SharedKey and algorithm when Twilio signs with a SharedKey.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";
/// Query parameter Twilio appends to the URL of requests with a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// HMAC flavour of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Legacy auth-token signing; the default when no settings header is present.
    #[default]
    HmacSha1,
    /// SharedKey signing (`algorithm=HMAC_SHA256`).
    HmacSha256,
}

impl Algorithm {
    /// Parses the wire name (`HMAC_SHA1` / `HMAC_SHA256`, case-insensitive like the SDK).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "HMAC_SHA1" => Some(Self::HmacSha1),
            "HMAC_SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }
}

/// Why a request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing or empty")]
    Missing,
    #[error("the X-Twilio-Signature does not match the request")]
    Mismatch,
    #[error("the URL carries no bodySHA256 query parameter for a JSON body")]
    MissingBodyHash,
    #[error("bodySHA256 does not match the SHA-256 of the request body")]
    BodyHashMismatch,
    #[error("unsupported webhook signature algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("unknown webhook SharedKey id {0:?}")]
    UnknownSharedKey(String),
}

/// Parsed `X-Twilio-Webhooks-Signature-Settings` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureSettings {
    /// SharedKey id (`key=`); `None` means the auth token signed the request.
    pub key_id: Option<String>,
    pub algorithm: Algorithm,
}

impl SignatureSettings {
    /// Parses the header like the SDK's `get_signature_algorithm`: a missing or
    /// empty header, or one without `algorithm=`, means HMAC-SHA1.
    pub fn parse(header: Option<&str>) -> Result<Self, SignatureError> {
        let mut settings = Self::default();
        for part in header.unwrap_or("").split(',') {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name.trim() {
                "algorithm" => {
                    settings.algorithm = Algorithm::from_name(value)
                        .ok_or_else(|| SignatureError::UnsupportedAlgorithm(value.to_owned()))?;
                }
                "key" => settings.key_id = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok(settings)
    }
}

/// Body of a signed request.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// `application/x-www-form-urlencoded` parameters (empty for GET and WebSocket upgrades).
    Form(&'a [(String, String)]),
    /// Raw JSON body; the URL must carry `bodySHA256`.
    Json(&'a [u8]),
}

/// Computes the base64 signature of `url` + `params` with `key`.
pub fn compute(key: &str, url: &str, params: &[(String, String)], algo: Algorithm) -> String {
    let message = signing_string(url, params);
    match algo {
        Algorithm::HmacSha1 => hmac_base64::<Hmac<Sha1>>(key.as_bytes(), message.as_bytes()),
        Algorithm::HmacSha256 => hmac_base64::<Hmac<Sha256>>(key.as_bytes(), message.as_bytes()),
    }
}

fn signing_string(url: &str, params: &[(String, String)]) -> String {
    // Rust's `str` ordering is byte order over UTF-8, which equals Python's
    // code-point order; dedup matches the SDK's `sorted(set(values))`.
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let extra: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
    let mut s = String::with_capacity(url.len() + extra);
    s.push_str(url);
    for (name, value) in pairs {
        s.push_str(name);
        s.push_str(value);
    }
    s
}

fn hmac_base64<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so this error cannot occur; an empty
    // result never equals a real signature, so failing closed is safe.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The URL split around its authority's port, without any normalisation
/// (a normalising parser would change the string Twilio signed).
struct UrlParts<'a> {
    scheme: &'a str,
    /// Everything between `://` and the port (userinfo and host).
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment, starting at the first `/`, `?` or `#`.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, after) = url.split_once("://")?;
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        // A colon inside an IPv6 literal is not a port separator.
        let host_end = authority.rfind(']').map_or(0, |i| i + 1);
        let (host, port) = match authority[host_end..].rfind(':') {
            Some(i) => {
                let (host, port) = authority.split_at(host_end + i);
                (host, Some(&port[1..]))
            }
            None => (authority, None),
        };
        Some(Self {
            scheme,
            host,
            port,
            rest,
        })
    }

    fn render(&self, scheme: &str, port: Option<&str>) -> String {
        let mut out = String::with_capacity(
            scheme.len() + self.host.len() + self.rest.len() + 3 + port.map_or(0, |p| p.len() + 1),
        );
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(self.host);
        if let Some(port) = port {
            out.push(':');
            out.push_str(port);
        }
        out.push_str(self.rest);
        out
    }
}

fn default_port(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        "443"
    } else {
        "80"
    }
}

/// The URL as given, without its port, and with the scheme's default port when it has none.
fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    if let Some(parts) = UrlParts::parse(url) {
        let bare = parts.render(parts.scheme, None);
        let with_port = parts.render(
            parts.scheme,
            Some(parts.port.unwrap_or(default_port(parts.scheme))),
        );
        for candidate in [bare, with_port] {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// The WebSocket URL under both the `ws(s)` and `http(s)` schemes, each with and without port.
fn websocket_variants(url: &str) -> Vec<String> {
    let Some(parts) = UrlParts::parse(url) else {
        return vec![url.to_owned()];
    };
    let secure = matches!(parts.scheme.to_ascii_lowercase().as_str(), "wss" | "https");
    let schemes = if secure {
        ["wss", "https"]
    } else {
        ["ws", "http"]
    };
    let mut out = vec![url.to_owned()];
    for scheme in schemes {
        let explicit = parts.port.unwrap_or(default_port(scheme));
        for candidate in [
            parts.render(scheme, None),
            parts.render(scheme, Some(explicit)),
        ] {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// The first `bodySHA256` value in the URL's query string, percent-decoded.
fn body_sha256_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == BODY_SHA256_PARAM)
        .map(|(_, value)| value.into_owned())
}

/// Checks incoming Twilio requests against the account's auth token and any SharedKeys.
#[derive(Clone)]
pub struct Validator {
    auth_token: String,
    shared_keys: HashMap<String, String>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Validator")
            .field("shared_keys", &self.shared_keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Validator {
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            auth_token: auth_token.into(),
            shared_keys: HashMap::new(),
        }
    }

    /// Registers a webhook SharedKey secret under the id Twilio names in the settings header.
    pub fn with_shared_key(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.shared_keys.insert(key_id.into(), secret.into());
        self
    }

    /// Validates a form-encoded (or GET, with empty `params`) webhook signed with the auth token.
    pub fn validate(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: &str,
    ) -> Result<(), SignatureError> {
        check(
            &self.auth_token,
            Algorithm::HmacSha1,
            &port_variants(url),
            params,
            signature,
        )
    }

    /// Validates a JSON-bodied webhook: the URL (which includes `bodySHA256`)
    /// is signed with no parameters, and the hash must match `body`.
    pub fn validate_json(
        &self,
        url_with_body_sha: &str,
        body: &[u8],
        signature: &str,
    ) -> Result<(), SignatureError> {
        self.validate_payload(
            &self.auth_token,
            Algorithm::HmacSha1,
            url_with_body_sha,
            Payload::Json(body),
            signature,
        )
    }

    /// Validates a Media Streams WebSocket upgrade. Which scheme Twilio signs is
    /// unverified, so both `wss://` and `https://` forms (or `ws`/`http`) are
    /// accepted, each with and without the default port.
    pub fn validate_websocket(&self, url: &str, signature: &str) -> Result<(), SignatureError> {
        check(
            &self.auth_token,
            Algorithm::HmacSha1,
            &websocket_variants(url),
            &[],
            signature,
        )
    }

    /// Validates a webhook honouring `X-Twilio-Webhooks-Signature-Settings`:
    /// a `key=` id selects a registered SharedKey secret, `algorithm=` the HMAC.
    pub fn validate_with_settings(
        &self,
        settings_header: Option<&str>,
        url: &str,
        payload: Payload<'_>,
        signature: &str,
    ) -> Result<(), SignatureError> {
        let settings = SignatureSettings::parse(settings_header)?;
        let key = match &settings.key_id {
            Some(id) => self
                .shared_keys
                .get(id)
                .ok_or_else(|| SignatureError::UnknownSharedKey(id.clone()))?,
            None => &self.auth_token,
        };
        self.validate_payload(key, settings.algorithm, url, payload, signature)
    }

    fn validate_payload(
        &self,
        key: &str,
        algo: Algorithm,
        url: &str,
        payload: Payload<'_>,
        signature: &str,
    ) -> Result<(), SignatureError> {
        match payload {
            Payload::Form(params) => check(key, algo, &port_variants(url), params, signature),
            Payload::Json(body) => {
                let expected = body_sha256_param(url).ok_or(SignatureError::MissingBodyHash)?;
                check(key, algo, &port_variants(url), &[], signature)?;
                let actual = hex_lower(&Sha256::digest(body));
                if constant_time_eq(&actual, &expected.to_ascii_lowercase()) {
                    Ok(())
                } else {
                    Err(SignatureError::BodyHashMismatch)
                }
            }
        }
    }
}

fn check(
    key: &str,
    algo: Algorithm,
    candidates: &[String],
    params: &[(String, String)],
    signature: &str,
) -> Result<(), SignatureError> {
    let signature = signature.trim();
    if signature.is_empty() {
        return Err(SignatureError::Missing);
    }
    // Every candidate is computed so the time taken does not reveal which matched.
    let matched = candidates.iter().fold(false, |acc, url| {
        acc | constant_time_eq(&compute(key, url, params, algo), signature)
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn doc_params() -> Vec<(String, String)> {
        // Deliberately unsorted: ordering is the signer's job.
        pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
        ])
    }

    #[test]
    fn signing_string_matches_reference() {
        assert_eq!(
            signing_string(URL, &doc_params()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212"
        );
    }

    #[test]
    fn sha1_worked_example() {
        assert_eq!(
            compute(TOKEN, URL, &doc_params(), Algorithm::HmacSha1),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert_eq!(
            Validator::new(TOKEN).validate(URL, &doc_params(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
            Ok(())
        );
    }

    #[test]
    fn sha256_worked_example() {
        assert_eq!(
            compute(TOKEN, URL, &doc_params(), Algorithm::HmacSha256),
            "Rmm4Vzj+Ky7JGoWXMCsZDZuHDszLr9xvdbvitrDr4/M="
        );
    }

    #[test]
    fn port_variants_are_accepted() {
        let v = Validator::new(TOKEN);
        let sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert_eq!(
            v.validate(
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &doc_params(),
                sig
            ),
            Ok(())
        );
        // And the other way round: signed with the port, validated without it.
        let with_port = compute(
            TOKEN,
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &doc_params(),
            Algorithm::HmacSha1,
        );
        assert_eq!(v.validate(URL, &doc_params(), &with_port), Ok(()));
        // A non-default port is kept, and removing it is one accepted variant.
        let odd = compute(TOKEN, "http://h.example:8080/x", &[], Algorithm::HmacSha1);
        assert_eq!(v.validate("http://h.example:8080/x", &[], &odd), Ok(()));
        let bare = compute(TOKEN, "http://h.example/x", &[], Algorithm::HmacSha1);
        assert_eq!(v.validate("http://h.example:8080/x", &[], &bare), Ok(()));
        let http80 = compute(TOKEN, "http://h.example:80/x", &[], Algorithm::HmacSha1);
        assert_eq!(v.validate("http://h.example/x", &[], &http80), Ok(()));
        // The wrong default port is not a variant.
        let wrong = compute(
            TOKEN,
            "https://mycompany.com:80/myapp.php?foo=1&bar=2",
            &doc_params(),
            Algorithm::HmacSha1,
        );
        assert_eq!(
            v.validate(URL, &doc_params(), &wrong),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn url_parts_handle_userinfo_ipv6_and_bare_hosts() {
        assert_eq!(
            port_variants("https://u:p@[::1]:8443/a?b=c"),
            vec![
                "https://u:p@[::1]:8443/a?b=c".to_owned(),
                "https://u:p@[::1]/a?b=c".to_owned()
            ]
        );
        assert_eq!(
            port_variants("http://example.com?x=1"),
            vec![
                "http://example.com?x=1".to_owned(),
                "http://example.com:80?x=1".to_owned()
            ]
        );
        assert_eq!(port_variants("not a url"), vec!["not a url".to_owned()]);
    }

    #[test]
    fn json_body_worked_example() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(hex_lower(&Sha256::digest(body)), hash);
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(
            compute(TOKEN, &url, &[], Algorithm::HmacSha1),
            "a9nBmqA0ju/hNViExpshrM61xv4="
        );
        let v = Validator::new(TOKEN);
        assert_eq!(
            v.validate_json(&url, body, "a9nBmqA0ju/hNViExpshrM61xv4="),
            Ok(())
        );
        let url_with_port = url.replace("mycompany.com/", "mycompany.com:443/");
        assert_eq!(
            v.validate_json(&url_with_port, body, "a9nBmqA0ju/hNViExpshrM61xv4="),
            Ok(())
        );
    }

    #[test]
    fn json_body_tampering_is_rejected() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("{URL}&bodySHA256={hash}");
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        let v = Validator::new(TOKEN);
        assert_eq!(
            v.validate_json(&url, br#"{"property": "evil", "boolean": true}"#, sig),
            Err(SignatureError::BodyHashMismatch)
        );
        assert_eq!(
            v.validate_json(URL, body, sig),
            Err(SignatureError::MissingBodyHash)
        );
        // A forged hash changes the signed URL.
        let forged = format!("{URL}&bodySHA256={}", hex_lower(&Sha256::digest(b"{}")));
        assert_eq!(
            v.validate_json(&forged, b"{}", sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn websocket_worked_example_and_scheme_variants() {
        let v = Validator::new(TOKEN);
        let sig = "ASGyPT9kdDVOm79OxfQnw7HcSP8=";
        assert_eq!(
            compute(
                TOKEN,
                "wss://bridge.example.com/media",
                &[],
                Algorithm::HmacSha1
            ),
            sig
        );
        assert_eq!(
            v.validate_websocket("wss://bridge.example.com/media", sig),
            Ok(())
        );
        assert_eq!(
            v.validate_websocket("wss://bridge.example.com:443/media", sig),
            Ok(())
        );
        assert_eq!(
            v.validate_websocket("https://bridge.example.com/media", sig),
            Ok(())
        );
        for signed in [
            "https://bridge.example.com/media",
            "https://bridge.example.com:443/media",
            "wss://bridge.example.com:443/media",
        ] {
            let s = compute(TOKEN, signed, &[], Algorithm::HmacSha1);
            assert_eq!(
                v.validate_websocket("wss://bridge.example.com/media", &s),
                Ok(()),
                "{signed}"
            );
        }
        let plain = compute(
            TOKEN,
            "http://127.0.0.1:8080/media",
            &[],
            Algorithm::HmacSha1,
        );
        assert_eq!(
            v.validate_websocket("ws://127.0.0.1:8080/media", &plain),
            Ok(())
        );
        // Insecure schemes never stand in for secure ones.
        let insecure = compute(
            TOKEN,
            "ws://bridge.example.com/media",
            &[],
            Algorithm::HmacSha1,
        );
        assert_eq!(
            v.validate_websocket("wss://bridge.example.com/media", &insecure),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate_websocket("wss://bridge.example.com/other", sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tampering_is_rejected() {
        let v = Validator::new(TOKEN);
        let sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        let mut params = doc_params();
        params[0].1 = "+18005551213".to_owned();
        assert_eq!(v.validate(URL, &params, sig), Err(SignatureError::Mismatch));
        let mut extra = doc_params();
        extra.push(("Evil".to_owned(), "1".to_owned()));
        assert_eq!(v.validate(URL, &extra, sig), Err(SignatureError::Mismatch));
        assert_eq!(
            v.validate(
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                &doc_params(),
                sig
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            Validator::new("54321").validate(URL, &doc_params(), sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate(URL, &doc_params(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate(URL, &doc_params(), "1/KCTR6DLpKmkAf8muzZqo1nDgQ="),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate(URL, &doc_params(), ""),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.validate(URL, &doc_params(), "  "),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn repeated_values_are_sorted_and_deduplicated() {
        let a = pairs(&[("b", "2"), ("a", "z"), ("a", "y"), ("a", "z")]);
        assert_eq!(signing_string("u", &a), "uayazb2");
        // Uppercase sorts before lowercase, as in Python.
        let b = pairs(&[("b", ""), ("B", "x"), ("a", "é"), ("a", "e")]);
        assert_eq!(signing_string("u", &b), "uBxaeaéb");
    }

    #[test]
    fn settings_header_selects_key_and_algorithm() {
        let v = Validator::new(TOKEN).with_shared_key("webhooks_sharedkey_1", "s3cret");
        let params = doc_params();
        let sha256 = compute("s3cret", URL, &params, Algorithm::HmacSha256);
        let header = Some("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256");
        assert_eq!(
            v.validate_with_settings(header, URL, Payload::Form(&params), &sha256),
            Ok(())
        );
        // The auth-token SHA-1 signature is not valid under SharedKey settings.
        assert_eq!(
            v.validate_with_settings(
                header,
                URL,
                Payload::Form(&params),
                "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
            ),
            Err(SignatureError::Mismatch)
        );
        for absent in [None, Some(""), Some("key="), Some(" , ")] {
            assert_eq!(
                v.validate_with_settings(
                    absent,
                    URL,
                    Payload::Form(&params),
                    "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
                ),
                Ok(()),
                "{absent:?}"
            );
        }
        assert_eq!(
            v.validate_with_settings(
                Some("algorithm=hmac_sha256"),
                URL,
                Payload::Form(&params),
                "Rmm4Vzj+Ky7JGoWXMCsZDZuHDszLr9xvdbvitrDr4/M="
            ),
            Ok(())
        );
        assert_eq!(
            v.validate_with_settings(
                Some("key=other,algorithm=HMAC_SHA256"),
                URL,
                Payload::Form(&params),
                &sha256
            ),
            Err(SignatureError::UnknownSharedKey("other".to_owned()))
        );
        assert_eq!(
            v.validate_with_settings(
                Some("key=webhooks_sharedkey_1,algorithm=HMAC_MD5"),
                URL,
                Payload::Form(&params),
                &sha256
            ),
            Err(SignatureError::UnsupportedAlgorithm("HMAC_MD5".to_owned()))
        );
    }

    #[test]
    fn settings_header_with_json_body() {
        let v = Validator::new(TOKEN).with_shared_key("k1", "secret");
        let body = b"{\"a\":1}";
        let url = format!(
            "https://x.example/hook?bodySHA256={}",
            hex_lower(&Sha256::digest(body))
        );
        let sig = compute("secret", &url, &[], Algorithm::HmacSha256);
        let header = Some("key=k1, algorithm=HMAC_SHA256");
        assert_eq!(
            v.validate_with_settings(header, &url, Payload::Json(body), &sig),
            Ok(())
        );
        assert_eq!(
            v.validate_with_settings(header, &url, Payload::Json(b"{\"a\":2}"), &sig),
            Err(SignatureError::BodyHashMismatch)
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let v = Validator::new("topsecret").with_shared_key("k1", "alsosecret");
        let shown = format!("{v:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("alsosecret"),
            "{shown}"
        );
        assert!(shown.contains("k1"));
    }
}
