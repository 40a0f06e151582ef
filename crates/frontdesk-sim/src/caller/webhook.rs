//! Twilio's side of webhook requests: form parameters, `X-Twilio-Signature`,
//! GET/POST as the verb's `method` says.

use frontdesk_wire::twilio_signature::{self as signature, Algorithm};

use super::twiml::CallbackMethod;
use super::SimError;

/// A webhook response as Twilio received it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends webhooks the way Twilio does.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    auth_token: Option<String>,
}

impl WebhookClient {
    pub fn new(auth_token: Option<String>) -> Result<Self, SimError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent("TwilioProxy/1.1")
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(SimError::Client)?;
        Ok(Self { http, auth_token })
    }

    /// Signature Twilio would put on a request to `url` with `params`.
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> Option<String> {
        self.auth_token
            .as_deref()
            .map(|token| signature::compute(token, url, params, Algorithm::HmacSha1))
    }

    /// Requests `url`; for GET the params go into the query string and the
    /// signature covers that full URL with no body params, as Twilio signs it.
    pub async fn request(
        &self,
        method: CallbackMethod,
        url: &str,
        params: &[(String, String)],
    ) -> Result<Reply, SimError> {
        let mut parsed = url::Url::parse(url).map_err(|e| SimError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SimError::InvalidUrl {
                url: url.to_owned(),
                reason: "webhooks must be http or https".into(),
            });
        }
        let builder = match method {
            CallbackMethod::Post => {
                let target = parsed.as_str().to_owned();
                let mut builder = self.http.post(&target).header("Accept", "*/*").form(params);
                if let Some(sig) = self.sign(&target, params) {
                    builder = builder.header(signature::SIGNATURE_HEADER, sig);
                }
                builder
            }
            CallbackMethod::Get => {
                parsed
                    .query_pairs_mut()
                    .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let target = parsed.as_str().to_owned();
                let mut builder = self.http.get(&target).header("Accept", "*/*");
                if let Some(sig) = self.sign(&target, &[]) {
                    builder = builder.header(signature::SIGNATURE_HEADER, sig);
                }
                builder
            }
        };
        let response = builder.send().await.map_err(|source| SimError::Http {
            url: url.to_owned(),
            source,
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|source| SimError::Http {
            url: url.to_owned(),
            source,
        })?;
        Ok(Reply { status, body })
    }
}

/// Resolves a TwiML URL against the document it appeared in, as Twilio does
/// for relative `action`s.
pub fn resolve(base: &str, reference: &str) -> Result<String, SimError> {
    let base_url = url::Url::parse(base).map_err(|e| SimError::InvalidUrl {
        url: base.to_owned(),
        reason: e.to_string(),
    })?;
    base_url
        .join(reference.trim())
        .map(String::from)
        .map_err(|e| SimError::InvalidUrl {
            url: reference.to_owned(),
            reason: e.to_string(),
        })
}

/// `prefix` + 32 lowercase hex digits, Twilio's SID shape.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_twilio_shape() {
        let sid = new_sid("CA");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CA"));
        assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(sid, new_sid("CA"));
    }

    #[test]
    fn relative_actions_resolve_against_the_document() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/twilio/voice", "/twilio/after-stream").unwrap(),
            "http://127.0.0.1:8080/twilio/after-stream"
        );
        assert_eq!(
            resolve("http://h/twilio/menu?x=1", "menu-choice").unwrap(),
            "http://h/twilio/menu-choice"
        );
        assert_eq!(
            resolve("http://h/a", "https://other.example/b").unwrap(),
            "https://other.example/b"
        );
        assert!(resolve("not a url", "/x").is_err());
    }

    #[test]
    fn signs_only_with_a_token() {
        let unsigned = WebhookClient::new(None).unwrap();
        assert_eq!(unsigned.sign("https://x/y", &[]), None);
        let signed = WebhookClient::new(Some("12345".into())).unwrap();
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signed
                .sign("https://mycompany.com/myapp.php?foo=1&bar=2", &params)
                .as_deref(),
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        );
        assert_eq!(
            signed
                .sign("wss://bridge.example.com/media", &[])
                .as_deref(),
            Some("ASGyPT9kdDVOm79OxfQnw7HcSP8=")
        );
    }
}
