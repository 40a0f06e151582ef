//! Twilio's voice webhooks: the incoming call, the stream's Connect action,
//! the menu, the transfer outcome and the voicemail.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::render;
use super::twilio_auth::{verify_form, verify_websocket};
use crate::call::actor::Webhook;
use crate::call::{read_menu_input, Decision, Event, Farewell, MenuChoice, MenuPrompt, Transfer};
use crate::engine::{CallInfo, Engine};
use crate::logmask::mask_phone;

/// Form parameters of a webhook, in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, HttpResponse> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(Form)
            .map_err(|e| HttpResponse::BadRequest().content_type("text/plain").body(format!("bad form body: {e}")))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn call_sid(&self) -> &str {
        self.get("CallSid").unwrap_or("")
    }
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml").body(body)
}

/// Parses and authenticates; a CallSid is required on every voice webhook.
fn accept(engine: &Engine, req: &HttpRequest, body: &[u8]) -> Result<Form, HttpResponse> {
    let form = Form::parse(body)?;
    verify_form(engine, req, &form.0, form.call_sid())?;
    let sid = form.call_sid();
    if sid.len() < 3 || !sid.starts_with("CA") || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        tracing::warn!(path = %req.path(), call_sid = %sid, "webhook without a valid CallSid");
        return Err(HttpResponse::BadRequest().content_type("text/plain").body("missing or invalid CallSid"));
    }
    Ok(form)
}

/// `POST /twilio/voice`: a call is coming in. Start its actor now (the model
/// session opens while Twilio sets up the stream) and answer with the
/// stream TwiML. A retried webhook finds the same actor.
pub async fn voice(engine: web::Data<Arc<Engine>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if engine.is_draining() {
        // The load balancer should already have stopped sending us calls;
        // a 503 lets Twilio use the number's fallback URL.
        return HttpResponse::ServiceUnavailable().finish();
    }
    let info = CallInfo {
        call_sid: form.call_sid().to_string(),
        from: form.get("From").unwrap_or_default().to_string(),
        to: form.get("To").unwrap_or_default().to_string(),
    };
    tracing::info!(call_sid = %info.call_sid, from = %mask_phone(&info.from), "incoming call");
    let twiml = render::connect_stream(&engine, &info.from, &info.to);
    engine.call(info);
    xml(twiml)
}

/// Asks the call for its decision; `fallback` when the call is not here
/// (ended and gone, or this instance restarted).
async fn ask(engine: &Arc<Engine>, form: &Form, event: Event, fallback: Decision) -> String {
    let sid = form.call_sid();
    let decision = match engine.registry.get(sid) {
        Some(call) => match call.send(Webhook(event)).await {
            Ok(Some(d)) => d,
            Ok(None) | Err(_) => fallback,
        },
        None => {
            tracing::info!(call_sid = %sid, "webhook for a call not held here; answering without it");
            fallback
        }
    };
    render::decision(engine, &decision, form.get("From").unwrap_or(""), form.get("To").unwrap_or(""))
}

/// `POST /twilio/after-stream`: the stream closed; what now?
pub async fn after_stream(engine: web::Data<Arc<Engine>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    // Without the call's state, the menu still serves the caller.
    let fallback = Decision::Menu { prompt: MenuPrompt::Welcome };
    xml(ask(&engine, &form, Event::AfterStream, fallback).await)
}

/// `POST /twilio/menu`: the caller pressed a key or said something.
pub async fn menu(engine: web::Data<Arc<Engine>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let digits = form.get("Digits").map(str::to_string);
    let speech = form.get("SpeechResult").map(str::to_string);
    let fallback = match read_menu_input(digits.as_deref(), speech.as_deref()) {
        MenuChoice::Hours => Decision::Menu { prompt: MenuPrompt::Hours },
        MenuChoice::Message => Decision::Voicemail { department: None },
        MenuChoice::Operator => match engine.config.business.operator() {
            Some(d) => Decision::Transfer(Transfer { department: d.name.clone(), number: d.phone.clone() }),
            None => Decision::Voicemail { department: None },
        },
        MenuChoice::Unclear => Decision::Menu { prompt: MenuPrompt::Retry },
    };
    xml(ask(&engine, &form, Event::MenuInput { digits, speech }, fallback).await)
}

/// `POST /twilio/dial-status`: the `<Dial>` action with `DialCallStatus`.
pub async fn dial_status(engine: web::Data<Arc<Engine>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let status = form.get("DialCallStatus").unwrap_or("failed").to_string();
    tracing::info!(call_sid = %form.call_sid(), %status, "transfer finished");
    let fallback = match status.as_str() {
        "completed" | "answered" => Decision::Hangup { farewell: Farewell::None },
        _ => Decision::Voicemail { department: None },
    };
    xml(ask(&engine, &form, Event::DialFinished { status }, fallback).await)
}

/// `POST /twilio/voicemail`: the `<Record>` action.
pub async fn voicemail(engine: web::Data<Arc<Engine>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = match accept(&engine, &req, &body) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    tracing::info!(
        call_sid = %form.call_sid(),
        recording_sid = %form.get("RecordingSid").unwrap_or(""),
        duration = %form.get("RecordingDuration").unwrap_or(""),
        "voicemail recorded"
    );
    let fallback = Decision::Hangup { farewell: Farewell::MessageTaken };
    xml(ask(&engine, &form, Event::RecordingFinished, fallback).await)
}

/// `GET /twilio/stream`: the Media Streams WebSocket.
pub async fn stream(
    engine: web::Data<Arc<Engine>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Err(resp) = verify_websocket(&engine, &req) {
        return Ok(resp);
    }
    crate::twilio::stream::start(engine.get_ref().clone(), &req, payload)
}
