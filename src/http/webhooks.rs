//! Twilio's voice webhooks: the incoming call, the stream's Connect action,
//! the menu, the transfer outcome and the voicemail.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::drain::Drain;
use super::render::{self, TwimlRenderer};
use super::twilio_auth::{verify_form, verify_websocket, Rejected, TwilioAuth};
use crate::business::hours::operator_open_at;
use crate::business::phone::{caller_number, is_nanp};
use crate::call::actor::Webhook;
use crate::call::{answer_without_call, CallInfo, Calls, Event, MachineConfig};
use crate::config::{BusinessConfig, Config, LimitsConfig};
use crate::logmask::mask_phone;
use crate::metrics::Metrics;
use crate::session::SessionStore;
use crate::store::Store;
use crate::tools::caller::recognise;
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

    /// Drops what no Twilio parameter legitimately holds (control
    /// characters, and what XML 1.0 forbids) so it reaches neither TwiML,
    /// logs nor the database. Only after the signature was checked over the
    /// values as sent.
    fn sanitize(mut self) -> Self {
        for (_, v) in &mut self.0 {
            if v.chars().any(char::is_control) {
                v.retain(|c| !c.is_control() || c == '\n' || c == '\t');
            }
        }
        self
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
async fn once<F, Fut>(
    sessions: &SessionStore,
    req: &HttpRequest,
    form: &Form,
    answer: F,
) -> HttpResponse
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
fn accept(auth: &TwilioAuth, req: &HttpRequest, body: &[u8]) -> Result<Form, Rejected> {
    let form = Form::parse(body)?;
    verify_form(auth, req, &form.0, form.call_sid())?;
    let sid = form.call_sid();
    if !crate::twilio::is_call_sid(sid) {
        tracing::warn!(path = %req.path(), call_sid = %crate::logmask::mask_id(sid), "webhook without a valid CallSid");
        return Err(Rejected::BadRequest("missing or invalid CallSid".into()));
    }
    Ok(form.sanitize())
}

/// `POST /twilio/voice`: a call is coming in. Start its actor now (the model
/// session opens while Twilio sets up the stream) and answer with the
/// stream TwiML. A retried webhook finds the same actor.
#[allow(clippy::too_many_arguments)] // one handle per service it uses
pub async fn voice(
    auth: web::Data<TwilioAuth>,
    drain: web::Data<Drain>,
    sessions: web::Data<SessionStore>,
    limits: web::Data<LimitsConfig>,
    twiml: web::Data<TwimlRenderer>,
    store: web::Data<Store>,
    calls: web::Data<Calls>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match accept(&auth, &req, &body) {
        Ok(f) => f,
        Err(rejected) => return rejected.error_response(),
    };
    if drain.is_draining() {
        // The load balancer should already have stopped sending us calls;
        // a 503 lets Twilio use the number's fallback URL.
        return HttpResponse::ServiceUnavailable().finish();
    }
    once(&sessions, &req, &form, || async {
        let mut info = CallInfo {
            call_sid: form.call_sid().to_string(),
            from: form.get("From").unwrap_or_default().to_string(),
            to: form.get("To").unwrap_or_default().to_string(),
            known: None,
            transport: frontdesk_core::Transport::Twilio,
        };
        // One bucket per caller, keyed by the E.164 number so every way of
        // writing it is the same caller. A withheld caller ID is nobody in
        // particular: one shared bucket would let one anonymous caller turn
        // away every other, so those calls are not limited per caller.
        let limit = limits.calls_per_caller_per_hour;
        let nanp = is_nanp(&twiml.business.business.phone);
        if let (true, Some(caller)) = (limit > 0, caller_number(&info.from, nanp)) {
            if !sessions.allow(&caller, limit, Duration::from_secs(3600)).await {
                tracing::warn!(call_sid = %info.call_sid, from = %mask_phone(&caller), "caller over the hourly call limit; turned away");
                return render::over_limit();
            }
        }
        tracing::info!(call_sid = %info.call_sid, from = %mask_phone(&info.from), "incoming call");
        let answer = render::connect_stream(&twiml, &info.call_sid, &info.from, &info.to);
        info.known = recognise(&store, &twiml.business, &info.from).await;
        calls.open(info);
        answer
    })
    .await
}

/// Asks the call for its decision; when the call is not here (ended and
/// gone, or this instance restarted), the machine's rules answer from the
/// event alone.
async fn ask(flow: &Flow, req: &HttpRequest, form: &Form, event: Event) -> HttpResponse {
    once(&flow.sessions, req, form, || async {
        let sid = form.call_sid();
        let fallback = answer_without_call(&flow.machine, &event);
        let here = flow.calls.get(sid);
        let held_here = here.is_some();
        let decision = match here {
            Some(call) => call.send(Webhook(event.clone())).await.ok().flatten(),
            None => super::remote::ask_owner(&flow.sessions, sid, &event).await,
        };
        if decision.is_none() && !held_here && event == Event::AfterStream {
            // The stream dropped and no live instance answers for the call:
            // its instance may be gone.
            match super::failover::take_over(
                &flow.sessions,
                &flow.store,
                &flow.calls,
                &flow.twiml,
                sid,
            )
            .await
            {
                Ok(answer) => return answer,
                Err(why) => {
                    tracing::info!(call_sid = %sid, %why, "after-stream for a call not held here; not taken over");
                }
            }
        }
        let decision = decision.unwrap_or_else(|| {
            tracing::info!(call_sid = %sid, "no call state for this webhook; answering without it");
            fallback
        });
        render::decision(
            &flow.twiml,
            &decision,
            sid,
            form.get("From").unwrap_or(""),
            form.get("To").unwrap_or(""),
        )
    })
    .await
}

/// Authenticates a call-flow webhook, turns its form into the call's event,
/// and answers with the call's decision.
async fn decide(
    flow: Flow,
    req: &HttpRequest,
    body: &[u8],
    read: impl FnOnce(&BusinessConfig, &Form) -> Event,
) -> HttpResponse {
    match accept(&flow.auth, req, body) {
        Ok(form) => {
            let event = read(&flow.twiml.business, &form);
            ask(&flow, req, &form, event).await
        }
        Err(rejected) => rejected.error_response(),
    }
}

/// What every call-flow webhook uses: the signature check, the idempotency
/// store (and the way to other instances), the live calls, and the TwiML.
pub struct Flow {
    auth: web::Data<TwilioAuth>,
    sessions: web::Data<SessionStore>,
    calls: web::Data<Calls>,
    twiml: web::Data<TwimlRenderer>,
    machine: web::Data<MachineConfig>,
    store: web::Data<Store>,
}

impl actix_web::FromRequest for Flow {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        fn data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, actix_web::Error> {
            req.app_data::<web::Data<T>>().cloned().ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("the server is missing a service")
            })
        }
        std::future::ready((|| {
            Ok(Flow {
                auth: data(req)?,
                sessions: data(req)?,
                calls: data(req)?,
                twiml: data(req)?,
                machine: data(req)?,
                store: data(req)?,
            })
        })())
    }
}

/// `POST /twilio/after-stream`: the stream closed; what now?
pub async fn after_stream(flow: Flow, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    decide(flow, &req, &body, |_, _| Event::AfterStream).await
}

/// `POST /twilio/menu`: the caller pressed a key or said something.
pub async fn menu(flow: Flow, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    decide(flow, &req, &body, |business, form| Event::MenuInput {
        digits: form.get("Digits").map(str::to_string),
        speech: form.get("SpeechResult").map(str::to_string),
        operator_open: operator_open_at(business, chrono::Utc::now()),
    })
    .await
}

/// `POST /twilio/dial-status`: the `<Dial>` action with `DialCallStatus`.
pub async fn dial_status(flow: Flow, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    decide(flow, &req, &body, |_, form| {
        let status = form.get("DialCallStatus").unwrap_or("failed").to_string();
        tracing::info!(call_sid = %form.call_sid(), %status, "transfer finished");
        Event::DialFinished { status }
    })
    .await
}

/// `POST /twilio/voicemail`: the `<Record>` action.
pub async fn voicemail(flow: Flow, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    decide(flow, &req, &body, |_, form| {
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

/// Twilio's `CallStatus` values that mean the call is over.
const TERMINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// `POST /twilio/call-status`: the number's call status callback. A
/// terminal status ends the call wherever it is — a caller who hung up in
/// the menu, at the voicemail prompt or while a transfer rang is closed at
/// once, with no stream to say so. Other statuses are acknowledged and
/// ignored. The answer's body is never read by Twilio.
pub async fn call_status(flow: Flow, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&flow.auth, &req, &body) {
        Ok(form) => form,
        Err(rejected) => return rejected.error_response(),
    };
    let status = form.get("CallStatus").unwrap_or_default();
    if !TERMINAL_STATUSES.contains(&status) {
        return HttpResponse::NoContent().finish();
    }
    tracing::info!(call_sid = %form.call_sid(), %status, "call over at Twilio");
    let event = Event::CallEnded {
        status: status.to_string(),
    };
    once(&flow.sessions, &req, &form, || async {
        let sid = form.call_sid();
        // No decision comes back: the call is over and Twilio reads no TwiML.
        match flow.calls.get(sid) {
            Some(call) => {
                let _ = call.send(Webhook(event)).await;
            }
            None => {
                super::remote::ask_owner(&flow.sessions, sid, &event).await;
            }
        }
        String::new()
    })
    .await
}

/// `POST /twilio/recording-status`: the `<Record>`'s recordingStatusCallback.
/// Answered at once; fetching, transcribing, storing and notifying run in
/// the background (see `crate::voicemail`), once per callback.
pub async fn recording_status(
    auth: web::Data<TwilioAuth>,
    sessions: web::Data<SessionStore>,
    store: web::Data<Store>,
    config: web::Data<Config>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = match accept(&auth, &req, &body) {
        Ok(f) => f,
        Err(rejected) => return rejected.error_response(),
    };
    let callback = match crate::voicemail::RecordingCallback::from_params(&form.0) {
        Ok(c) => c,
        Err(e) => return Rejected::BadRequest(e.to_string()).error_response(),
    };
    // Stored before Twilio hears back, so a crash after the answer loses
    // nothing; idempotent, so a retried callback stores nothing twice.
    let config = config.into_inner();
    let completed = match crate::voicemail::accept(
        store.get_ref().clone(),
        config.clone(),
        &callback,
    )
    .await
    {
        Ok(completed) => completed,
        Err(e) => {
            tracing::error!(call_sid = %callback.call_sid, error = %e, "voicemail not stored; asking Twilio to retry");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    once(&sessions, &req, &form, || async {
        if completed {
            crate::voicemail::spawn_processing(store.get_ref().clone(), config, callback);
        }
        String::new()
    })
    .await
}

/// `GET /twilio/stream`: the Media Streams WebSocket.
pub async fn stream(
    auth: web::Data<TwilioAuth>,
    calls: web::Data<Calls>,
    metrics: web::Data<Metrics>,
    gate: web::Data<crate::media_stream::StreamGate>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Err(rejected) = verify_websocket(&auth, &req) {
        return Ok(rejected.error_response());
    }
    crate::media_stream::start(
        calls.get_ref().clone(),
        metrics.into_inner(),
        gate.get_ref().clone(),
        &req,
        payload,
    )
}
