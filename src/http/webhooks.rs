//! Twilio's voice webhooks: the incoming call, the stream's Connect action,
//! the menu, the transfer outcome and the voicemail.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::render;
use super::twilio_auth::{verify_form, verify_websocket, Rejected};
use crate::call::actor::Webhook;
use crate::call::{answer_without_call, Event};
use crate::engine::{CallInfo, Engine};
use crate::logmask::mask_phone;
use actix_web::ResponseError;

/// Form parameters of a webhook, in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, Rejected> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(Form)
            .map_err(|e| Rejected::BadRequest(format!("bad form body: {e}")))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn call_sid(&self) -> &str {
        self.get("CallSid").unwrap_or("")
    }
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml").body(body)
}

/// How long a webhook's answer is kept for Twilio's retries of it.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);
/// A retry that arrives while the first request is still being answered
/// waits this long for that answer.
const RETRY_WAIT: Duration = Duration::from_secs(2);

/// The same webhook (path, CallSid, parameters) gets the same answer, and its
/// side effects happen once, however often Twilio retries it and on whichever
/// instance the retry lands.
async fn once<F, Fut>(engine: &Engine, req: &HttpRequest, form: &Form, answer: F) -> HttpResponse
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut params = form.0.clone();
    params.sort();
    let mut h = Sha256::new();
    for (k, v) in &params {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let key = format!(
        "webhook:{}:{}:{:x}",
        req.path(),
        form.call_sid(),
        h.finalize()
    );
    let sessions = &engine.sessions;
    if let Some(body) = sessions.recall_response(&key).await {
        tracing::info!(call_sid = %form.call_sid(), path = %req.path(), "retried webhook answered from memory");
        return xml(body);
    }
    if !sessions.begin_once(&key, IDEMPOTENCY_TTL).await {
        let deadline = tokio::time::Instant::now() + RETRY_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(body) = sessions.recall_response(&key).await {
                return xml(body);
            }
        }
        tracing::warn!(call_sid = %form.call_sid(), path = %req.path(), "retried webhook still being answered");
        return HttpResponse::ServiceUnavailable().finish();
    }
    let body = answer().await;
    sessions
        .remember_response(&key, &body, IDEMPOTENCY_TTL)
        .await;
    xml(body)
}

/// Parses and authenticates; a CallSid is required on every voice webhook.
fn accept(engine: &Engine, req: &HttpRequest, body: &[u8]) -> Result<Form, Rejected> {
    let form = Form::parse(body)?;
    verify_form(engine, req, &form.0, form.call_sid())?;
    let sid = form.call_sid();
    if sid.len() < 3 || !sid.starts_with("CA") || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        tracing::warn!(path = %req.path(), call_sid = %sid, "webhook without a valid CallSid");
        return Err(Rejected::BadRequest("missing or invalid CallSid".into()));
    }
    Ok(form)
}

/// `POST /twilio/voice`: a call is coming in. Start its actor now (the model
/// session opens while Twilio sets up the stream) and answer with the
/// stream TwiML. A retried webhook finds the same actor.
pub async fn voice(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(rejected) => return rejected.error_response(),
    };
    if engine.is_draining() {
        // The load balancer should already have stopped sending us calls;
        // a 503 lets Twilio use the number's fallback URL.
        return HttpResponse::ServiceUnavailable().finish();
    }
    let engine = engine.get_ref().clone();
    once(&engine, &req, &form, || async {
        let mut info = CallInfo {
            call_sid: form.call_sid().to_string(),
            from: form.get("From").unwrap_or_default().to_string(),
            to: form.get("To").unwrap_or_default().to_string(),
            known: None,
        };
        let limit = engine.config.limits.calls_per_caller_per_hour;
        if limit > 0 && !info.from.is_empty() && !engine.sessions.allow(&info.from, limit, Duration::from_secs(3600)).await {
            tracing::warn!(call_sid = %info.call_sid, from = %mask_phone(&info.from), "caller over the hourly call limit; rejected");
            return crate::twilio::twiml::Response::new()
                .reject(Some(crate::twilio::twiml::RejectReason::Busy))
                .to_xml();
        }
        tracing::info!(call_sid = %info.call_sid, from = %mask_phone(&info.from), "incoming call");
        let twiml = render::connect_stream(&engine, &info.from, &info.to);
        info.known = engine.recognise(&info.from).await;
        engine.call(info);
        twiml
    })
    .await
}

/// Asks the call for its decision; when the call is not here (ended and
/// gone, or this instance restarted), the machine's rules answer from the
/// event alone.
async fn ask(engine: &Arc<Engine>, req: &HttpRequest, form: &Form, event: Event) -> HttpResponse {
    once(engine, req, form, || async {
        let sid = form.call_sid();
        let fallback = answer_without_call(&engine.machine, &event);
        let decision = match engine.registry.get(sid) {
            Some(call) => call.send(Webhook(event)).await.ok().flatten(),
            None => super::remote::ask_owner(engine, sid, &event).await,
        };
        let decision = decision.unwrap_or_else(|| {
            tracing::info!(call_sid = %sid, "no call state for this webhook; answering without it");
            fallback
        });
        render::decision(
            engine,
            &decision,
            form.get("From").unwrap_or(""),
            form.get("To").unwrap_or(""),
        )
    })
    .await
}

/// Authenticates a call-flow webhook, turns its form into the call's event,
/// and answers with the call's decision.
async fn decide(
    engine: &Arc<Engine>,
    req: &HttpRequest,
    body: &[u8],
    read: impl FnOnce(&Engine, &Form) -> Event,
) -> HttpResponse {
    match accept(engine, req, body) {
        Ok(form) => {
            let event = read(engine, &form);
            ask(engine, req, &form, event).await
        }
        Err(rejected) => rejected.error_response(),
    }
}

/// `POST /twilio/after-stream`: the stream closed; what now?
pub async fn after_stream(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    decide(&engine, &req, &body, |_, _| Event::AfterStream).await
}

/// `POST /twilio/menu`: the caller pressed a key or said something.
pub async fn menu(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    decide(&engine, &req, &body, |engine, form| Event::MenuInput {
        digits: form.get("Digits").map(str::to_string),
        speech: form.get("SpeechResult").map(str::to_string),
        operator_open: engine.operator_open_now(),
    })
    .await
}

/// `POST /twilio/dial-status`: the `<Dial>` action with `DialCallStatus`.
pub async fn dial_status(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    decide(&engine, &req, &body, |_, form| {
        let status = form.get("DialCallStatus").unwrap_or("failed").to_string();
        tracing::info!(call_sid = %form.call_sid(), %status, "transfer finished");
        Event::DialFinished { status }
    })
    .await
}

/// `POST /twilio/voicemail`: the `<Record>` action.
pub async fn voicemail(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    decide(&engine, &req, &body, |_, form| {
        tracing::info!(
            call_sid = %form.call_sid(),
            recording_sid = %form.get("RecordingSid").unwrap_or(""),
            duration = %form.get("RecordingDuration").unwrap_or(""),
            "voicemail recorded"
        );
        Event::RecordingFinished
    })
    .await
}

/// `POST /twilio/recording-status`: the `<Record>`'s recordingStatusCallback.
/// Answered at once; fetching, transcribing, storing and notifying run in
/// the background (see `crate::voicemail`), once per callback.
pub async fn recording_status(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(rejected) => return rejected.error_response(),
    };
    let callback = match crate::voicemail::RecordingCallback::from_params(&form.0) {
        Ok(c) => c,
        Err(e) => return Rejected::BadRequest(e.to_string()).error_response(),
    };
    let engine = engine.get_ref().clone();
    once(&engine, &req, &form, || async {
        crate::voicemail::start(engine.store.clone(), engine.config.clone(), callback);
        String::new()
    })
    .await
}

/// `GET /twilio/stream`: the Media Streams WebSocket.
pub async fn stream(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Err(rejected) = verify_websocket(&engine, &req) {
        return Ok(rejected.error_response());
    }
    crate::twilio::stream::start(engine.get_ref().clone(), &req, payload)
}
