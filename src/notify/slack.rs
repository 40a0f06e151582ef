//! Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat, …):
//! `POST {"text": …}` as JSON; any 2xx is a delivery.
//!
//! The webhook URL is a secret (whoever has it can post), so it appears in no
//! error message and no log line.

use std::time::Duration;

use super::worker::SendError;

/// Upper bound for one webhook request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an error reply is kept (Slack answers with short codes such as
/// `invalid_payload` or `no_service`).
const MAX_REPLY_CHARS: usize = 200;

#[derive(Clone)]
pub struct SlackChannel {
    url: reqwest::Url,
    http: reqwest::Client,
}

impl std::fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackChannel")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl SlackChannel {
    /// Fails (permanently) when no webhook is configured or it is not an http(s) URL.
    pub fn from_url(url: Option<&str>) -> Result<Self, SendError> {
        let raw = url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                SendError::permanent(
                "Slack is not configured (FRONTDESK__NOTIFICATIONS__SLACK_WEBHOOK_URL is unset)",
            )
            })?;
        let url = reqwest::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| SendError::permanent("the Slack webhook URL is not an http(s) URL"))?;
        // reqwest is built without a bundled rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| SendError::permanent(format!("HTTP client: {}", e.without_url())))?;
        Ok(SlackChannel { url, http })
    }

    pub async fn send(&self, text: &str) -> Result<(), SendError> {
        let response = self
            .http
            .post(self.url.clone())
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .map_err(|e| {
                SendError::transient(format!("Slack webhook unreachable: {}", e.without_url()))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let reply = response.text().await.unwrap_or_default();
        let reply: String = reply.trim().chars().take(MAX_REPLY_CHARS).collect();
        let message = format!("Slack webhook answered HTTP {}: {reply}", status.as_u16());
        // A 4xx means the hook or the payload is wrong (revoked hook, bad
        // JSON): sending the same request again cannot help. Timeouts and
        // rate limits can.
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        Err(if retryable {
            SendError::transient(message)
        } else {
            SendError::permanent(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_or_bad_urls_fail_permanently() {
        for url in [
            None,
            Some(""),
            Some("  "),
            Some("ftp://x/y"),
            Some("nonsense"),
        ] {
            let e = SlackChannel::from_url(url).unwrap_err();
            assert!(e.permanent, "{url:?}: {e}");
        }
    }

    #[tokio::test]
    async fn errors_never_show_the_webhook_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T000/B000/s3cr3t");
        let ch = SlackChannel::from_url(Some(&url)).unwrap();
        let e = ch.send("hello").await.unwrap_err();
        assert!(!e.permanent, "{e}");
        assert!(!e.message.contains("s3cr3t"), "{e}");
        assert!(!format!("{ch:?}").contains("s3cr3t"));
    }
}
