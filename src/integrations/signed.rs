//! One signed JSON request to a business's endpoint, and what can go wrong
//! with it, typed: the HTTP tool tells the model, the webhook worker stores
//! it for the operator. No error carries the URL (it may hold a token) or the
//! secret.

use std::time::{Duration, Instant};

use frontdesk_wire::standard_webhooks::SigningKey;

/// How much of an error answer is kept for the operator.
const MAX_EXCERPT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {status}: {excerpt}")]
    Status { status: u16, excerpt: String },
    #[error("answer larger than {limit} bytes")]
    Oversized { limit: usize },
    #[error("answer is not JSON: {0}")]
    InvalidJson(String),
}

impl OutboundError {
    /// A stable name for the model and the operator.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundError::Refused(_) => "refused_target",
            OutboundError::Timeout(_) => "timeout",
            OutboundError::Unreachable(_) => "unreachable",
            OutboundError::Status { .. } => "bad_status",
            OutboundError::Oversized { .. } => "oversized_answer",
            OutboundError::InvalidJson(_) => "invalid_json",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            OutboundError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What to send.
pub struct SignedRequest<'a> {
    pub url: &'a str,
    pub method: reqwest::Method,
    pub key: &'a SigningKey,
    /// `webhook-id`: the same for every attempt of one message.
    pub id: &'a str,
    pub body: &'a [u8],
    pub timeout: Duration,
    pub max_answer_bytes: usize,
}

/// A 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

/// Sends `req` with `client` (see [`super::guard::client`]), signed at the
/// moment of sending; `guarded` re-checks IP-literal hosts.
pub async fn send_signed(
    client: &reqwest::Client,
    req: SignedRequest<'_>,
    guarded: bool,
) -> Result<Answer, OutboundError> {
    let started = Instant::now();
    let url = reqwest::Url::parse(req.url)
        .map_err(|_| OutboundError::Unreachable("the URL does not parse".into()))?;
    if guarded {
        super::guard::check_url(&url).map_err(|e| OutboundError::Refused(e.to_string()))?;
    }
    let timestamp = chrono::Utc::now().timestamp();
    let mut builder = client
        .request(req.method, url)
        .timeout(req.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(req.body.to_vec());
    for (name, value) in req.key.headers(req.id, timestamp, req.body) {
        builder = builder.header(name, value);
    }
    let work = async {
        let mut response = builder
            .send()
            .await
            .map_err(|e| classify(&e, req.timeout))?;
        let status = response.status();
        if !status.is_success() {
            let mut excerpt = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                excerpt.extend_from_slice(&chunk);
                if excerpt.len() >= MAX_EXCERPT_CHARS * 4 {
                    break;
                }
            }
            let text: String = String::from_utf8_lossy(&excerpt)
                .trim()
                .chars()
                .take(MAX_EXCERPT_CHARS)
                .collect();
            return Err(OutboundError::Status {
                status: status.as_u16(),
                excerpt: text,
            });
        }
        let limit = req.max_answer_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(OutboundError::Oversized { limit });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(OutboundError::Oversized { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(&e, req.timeout)),
            }
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
            elapsed: started.elapsed(),
        })
    };
    // reqwest's own timeout covers the body too; this bounds everything,
    // resolution included.
    tokio::time::timeout(req.timeout, work)
        .await
        .unwrap_or(Err(OutboundError::Timeout(req.timeout)))
}

fn classify(e: &reqwest::Error, timeout: Duration) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout(timeout);
    }
    // A refusal by the guarded resolver arrives as a connect error whose
    // source chain holds [`super::guard::Refused`].
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<super::guard::Refused>() {
            return OutboundError::Refused(r.to_string());
        }
        source = s.source();
    }
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    OutboundError::Unreachable(what.into())
}
