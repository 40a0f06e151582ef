//! OpenAI's REST calls on a SIP call: `POST {base}/realtime/calls/{call_id}/
//! accept|reject|refer|hangup` with `Authorization: Bearer`. Each answers
//! 200 with an empty body; anything else is an error carrying the status
//! (never the key).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    #[error("OpenAI answered {action} with HTTP {status}")]
    Status { action: &'static str, status: u16 },
    #[error("OpenAI could not be reached for {action}: {reason}")]
    Transport {
        action: &'static str,
        reason: String,
    },
}

/// No `Debug` of the key: it is printed as `***`.
#[derive(Clone)]
pub struct OpenAiCalls {
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    /// Requests a call asked for and not yet answered: a draining instance
    /// waits for them (a hangup lost at shutdown would leave a call up).
    in_flight: Arc<AtomicUsize>,
}

/// Counts one request as in flight until dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for OpenAiCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCalls")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// OpenAI answers these at once; a slow one is as good as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

impl OpenAiCalls {
    /// `base_url`: the REST base (`https://api.openai.com/v1`, the
    /// configured `realtime.base_url`).
    pub fn new(base_url: &str, api_key: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        OpenAiCalls {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            http,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Marks a request as in flight from now (before it is spawned) until
    /// the guard is dropped.
    pub fn begin(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.in_flight.clone())
    }

    /// Waits (up to `timeout`) until no request is in flight; whether none is.
    pub async fn settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Answers the call with the session (`type: "realtime"`, §2).
    pub async fn accept(&self, call_id: &str, session: &Value) -> Result<(), RestError> {
        self.post(call_id, "accept", Some(session)).await
    }

    pub async fn reject(&self, call_id: &str, status_code: u16) -> Result<(), RestError> {
        self.post(
            call_id,
            "reject",
            Some(&json!({ "status_code": status_code })),
        )
        .await
    }

    /// A SIP REFER to `target_uri` (`tel:+1…` or `sip:…`).
    pub async fn refer(&self, call_id: &str, target_uri: &str) -> Result<(), RestError> {
        self.post(call_id, "refer", Some(&json!({ "target_uri": target_uri })))
            .await
    }

    pub async fn hangup(&self, call_id: &str) -> Result<(), RestError> {
        self.post(call_id, "hangup", None).await
    }

    async fn post(
        &self,
        call_id: &str,
        action: &'static str,
        body: Option<&Value>,
    ) -> Result<(), RestError> {
        let url = format!("{}/realtime/calls/{call_id}/{action}", self.base_url);
        let mut req = self.http.post(url);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| RestError::Transport {
            action,
            reason: e.without_url().to_string(),
        })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(RestError::Status {
                action,
                status: status.as_u16(),
            })
        }
    }
}
