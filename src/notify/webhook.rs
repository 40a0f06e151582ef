//! Event webhooks to the business's endpoints (`[[webhooks]]`): the outbox
//! item names its endpoint; URL and secret are looked up in the
//! configuration at send time (never stored in the outbox, never logged).
//! Each attempt is signed anew (Standard Webhooks: the timestamp is the
//! attempt's), with the item's fixed `webhook-id` and body.

use std::collections::HashMap;
use std::time::Duration;

use frontdesk_wire::standard_webhooks::SigningKey;

use super::worker::SendError;
use crate::config::integrations::WebhookEndpoint;
use crate::integrations::{send_signed, OutboundError, SignedRequest};

/// The largest answer read from an endpoint (its content is not used).
const MAX_ANSWER_BYTES: usize = 16 * 1024;

struct Endpoint {
    url: String,
    key: Result<SigningKey, String>,
    client: Result<reqwest::Client, String>,
    guarded: bool,
    timeout: Duration,
}

/// The configured endpoints, by name.
#[derive(Default)]
pub struct WebhookChannel {
    endpoints: HashMap<String, Endpoint>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("endpoints", &self.endpoints.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebhookChannel {
    pub fn from_config(endpoints: &[WebhookEndpoint]) -> Self {
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let timeout = Duration::from_millis(e.timeout_ms.max(1));
                let endpoint = Endpoint {
                    url: e.url.clone(),
                    key: SigningKey::parse(e.secret.expose()).map_err(|err| err.to_string()),
                    client: crate::integrations::guard::client(e.allow_private, timeout)
                        .map_err(|err| format!("HTTP client: {}", err.without_url())),
                    guarded: !e.allow_private,
                    timeout,
                };
                (e.name.clone(), endpoint)
            })
            .collect();
        WebhookChannel { endpoints }
    }

    /// Sends one event; `Ok` carries the endpoint's 2xx status. Refused
    /// targets and unknown endpoints fail for good; everything else
    /// (timeouts, 5xx, 4xx: an endpoint being redeployed answers 404) is
    /// retried, except 410 Gone, the receiver's way to unsubscribe.
    pub async fn send(&self, endpoint: &str, id: &str, body: &str) -> Result<u16, SendError> {
        let e = self.endpoints.get(endpoint).ok_or_else(|| {
            SendError::permanent(format!(
                "no webhook endpoint named {endpoint:?} is configured"
            ))
        })?;
        let key = e
            .key
            .as_ref()
            .map_err(|m| SendError::permanent(m.clone()))?;
        let client = e
            .client
            .as_ref()
            .map_err(|m| SendError::permanent(m.clone()))?;
        let req = SignedRequest {
            url: &e.url,
            method: reqwest::Method::POST,
            key,
            id,
            body: body.as_bytes(),
            timeout: e.timeout,
            max_answer_bytes: MAX_ANSWER_BYTES,
        };
        match send_signed(client, req, e.guarded).await {
            Ok(answer) => Ok(answer.status),
            // The body of a 2xx answer is not ours to judge.
            Err(OutboundError::Oversized { .. }) => Ok(200),
            Err(err) => {
                let message = format!("{}: {err}", err.kind());
                let permanent =
                    matches!(err, OutboundError::Refused(_)) || err.status() == Some(410);
                let mut se = if permanent {
                    SendError::permanent(message)
                } else {
                    SendError::transient(message)
                };
                se.status = err.status();
                Err(se)
            }
        }
    }
}
