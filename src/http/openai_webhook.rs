//! `POST /openai/webhook`: OpenAI's project webhooks, above all
//! `realtime.call.incoming` from the SIP connector (docs/sip.md).
//!
//! Verified the Standard Webhooks way (`frontdesk_wire::standard_webhooks`,
//! 300 s tolerance, constant-time), then deduplicated on `webhook-id`
//! through the session store (Redis when configured, so across instances):
//! a retry gets the first answer and does nothing twice. An incoming call
//! is routed by its `To` number, refused with a SIP status when it cannot
//! be served, or accepted with the call's session and handed to a
//! `CallActor` that controls it over the sideband socket.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::drain::Drain;
use crate::business::phone::{caller_number, is_nanp, normalize_phone};
use crate::call::{CallInfo, Calls, Outcome};
use crate::config::{Config, LimitsConfig};
use crate::logmask::{mask_id, mask_phone};
use crate::metrics::Metrics;
use crate::session::SessionStore;
use crate::sip::{parse_webhook, reject, IncomingCall, WebhookEvent};
use crate::store::Store;
use crate::tools::caller::recognise;
use frontdesk_core::Transport;
use frontdesk_wire::standard_webhooks::{
    SigningKey, WebhookSignatureError as WebhookError, DEFAULT_TOLERANCE_SECS,
    HEADER_ID as ID_HEADER, HEADER_SIGNATURE as SIGNATURE_HEADER,
    HEADER_TIMESTAMP as TIMESTAMP_HEADER,
};

/// Longer than the signature tolerance: a replay either finds its first
/// answer here or is refused for its age.
const DEDUPE_TTL: Duration = Duration::from_secs(2 * DEFAULT_TOLERANCE_SECS as u64);
/// A retry arriving while the first delivery is being answered waits this long.
const RETRY_WAIT: Duration = Duration::from_secs(5);

/// What a delivery was answered with, kept for its retries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    status: u16,
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<String>,
}

impl Answer {
    fn new(status: u16, outcome: &str, call_id: Option<&str>) -> Self {
        Answer {
            status,
            outcome: outcome.into(),
            call_id: call_id.map(str::to_string),
        }
    }

    fn response(&self) -> HttpResponse {
        let status = actix_web::http::StatusCode::from_u16(self.status)
            .unwrap_or(actix_web::http::StatusCode::OK);
        HttpResponse::build(status).json(self)
    }
}

/// The handles the handler uses.
struct Hooks<'a> {
    config: &'a Config,
    drain: &'a Drain,
    sessions: &'a SessionStore,
    limits: &'a LimitsConfig,
    store: &'a Store,
    calls: &'a Calls,
    metrics: &'a Metrics,
}

#[allow(clippy::too_many_arguments)] // one handle per service it uses
pub async fn openai_webhook(
    config: web::Data<Config>,
    drain: web::Data<Drain>,
    sessions: web::Data<SessionStore>,
    limits: web::Data<LimitsConfig>,
    store: web::Data<Store>,
    calls: web::Data<Calls>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(secret) = config.realtime.webhook_secret.as_ref() else {
        tracing::warn!("OpenAI webhook received but OPENAI_WEBHOOK_SECRET is not set: the SIP connector is off");
        return HttpResponse::NotFound().finish();
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let id = header(ID_HEADER);
    let masked = mask_id(id.unwrap_or_default());
    let checked = SigningKey::parse(secret.expose()).and_then(|key| {
        key.verify(
            id,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            chrono::Utc::now().timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
    });
    if let Err(e) = checked {
        metrics.malformed("openai_webhook");
        tracing::warn!(webhook_id = %masked, error = %e, "OpenAI webhook refused");
        return match e {
            WebhookError::MissingHeader(_) | WebhookError::BadTimestamp => {
                HttpResponse::BadRequest().body(e.to_string())
            }
            _ => HttpResponse::Unauthorized().body(e.to_string()),
        };
    }
    let id = id.unwrap_or_default();
    let key = format!("openai-webhook:{id}");
    if let Some(answer) = recall(&sessions, &key).await {
        tracing::info!(webhook_id = %masked, "retried OpenAI webhook answered from memory");
        return answer.response();
    }
    if !sessions.begin_once(&key, DEDUPE_TTL).await {
        let deadline = tokio::time::Instant::now() + RETRY_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(answer) = recall(&sessions, &key).await {
                return answer.response();
            }
        }
        tracing::warn!(webhook_id = %masked, "retried OpenAI webhook still being answered");
        return HttpResponse::ServiceUnavailable().finish();
    }
    let hooks = Hooks {
        config: &config,
        drain: &drain,
        sessions: &sessions,
        limits: &limits,
        store: &store,
        calls: &calls,
        metrics: &metrics,
    };
    let answer = hooks.answer(&body, &masked).await;
    if let Ok(text) = serde_json::to_string(&answer) {
        sessions.remember_response(&key, &text, DEDUPE_TTL).await;
    }
    answer.response()
}

async fn recall(sessions: &SessionStore, key: &str) -> Option<Answer> {
    let text = sessions.recall_response(key).await?;
    serde_json::from_str(&text).ok()
}

impl Hooks<'_> {
    fn nanp(&self) -> bool {
        is_nanp(&self.config.business.business.phone)
    }

    async fn answer(&self, body: &[u8], webhook_id: &str) -> Answer {
        match parse_webhook(body, self.nanp()) {
            Err(e) => {
                self.metrics.malformed("openai_webhook");
                tracing::warn!(%webhook_id, error = %e, "malformed OpenAI webhook");
                Answer::new(400, "malformed", None)
            }
            Ok(WebhookEvent::Other { kind }) => {
                tracing::info!(%webhook_id, event_type = %kind, "OpenAI webhook of another type acknowledged");
                Answer::new(200, "ignored", None)
            }
            Ok(WebhookEvent::Incoming(call)) => self.incoming(call).await,
        }
    }

    async fn incoming(&self, call: IncomingCall) -> Answer {
        let call_id = call.call_id.clone();
        let mut info = CallInfo {
            call_sid: call.call_id,
            from: call.from,
            to: call.to.clone().unwrap_or_default(),
            known: None,
            transport: Transport::Sip,
        };
        tracing::info!(call_sid = %call_id, from = %mask_phone(&info.from), to = %mask_phone(&info.to), "incoming SIP call");
        if self.drain.is_draining() {
            return self.refuse(&info, reject::DRAINING, "draining").await;
        }
        // One business today: its own number. (Several businesses: this
        // lookup becomes the directory's.)
        let ours = normalize_phone(&self.config.business.business.phone, self.nanp());
        if call.to.is_none() || call.to != ours {
            return self
                .refuse(&info, reject::UNKNOWN_NUMBER, "unknown_number")
                .await;
        }
        let limit = self.limits.calls_per_caller_per_hour;
        if let (true, Some(caller)) = (limit > 0, caller_number(&info.from, self.nanp())) {
            if !self
                .sessions
                .allow(&caller, limit, Duration::from_secs(3600))
                .await
            {
                return self
                    .refuse(&info, reject::RATE_LIMITED, "rate_limited")
                    .await;
            }
        }
        info.known = recognise(self.store, &self.config.business, &info.from).await;
        let session = crate::realtime::session::sip_session(&self.calls.session_for(&info));
        match self.calls.openai().accept(&call_id, &session).await {
            Ok(()) => {
                tracing::info!(call_sid = %call_id, "SIP call accepted");
                self.calls.open(info);
                Answer::new(200, "accepted", Some(&call_id))
            }
            Err(e) => {
                tracing::warn!(call_sid = %call_id, error = %e, "accept failed: the SIP call has gone");
                self.calls.record_unserved(&info, Outcome::AcceptFailed);
                Answer::new(200, "accept_failed", Some(&call_id))
            }
        }
    }

    /// `POST …/reject` with `status_code`, and the call's record, closed.
    async fn refuse(&self, info: &CallInfo, status_code: u16, why: &str) -> Answer {
        tracing::warn!(call_sid = %info.call_sid, %why, status_code, "SIP call rejected");
        if let Err(e) = self
            .calls
            .openai()
            .reject(&info.call_sid, status_code)
            .await
        {
            tracing::warn!(call_sid = %info.call_sid, error = %e, "reject failed");
        }
        self.calls.record_unserved(info, Outcome::Rejected);
        Answer::new(200, &format!("rejected_{why}"), Some(&info.call_sid))
    }
}
