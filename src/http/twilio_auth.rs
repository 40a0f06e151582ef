//! X-Twilio-Signature on every Twilio request, the WebSocket handshake
//! included. The URL checked is the one Twilio called: our public URL plus
//! the request's path and query (behind a proxy the local URL differs).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::engine::{Engine, SignaturePolicy};
use crate::twilio::signature::Validator;
use crate::twilio::signature::SIGNATURE_HEADER;

fn signature(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Why a Twilio request was turned away (already logged and counted).
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("invalid Twilio signature")]
    Signature,
    #[error("{0}")]
    BadRequest(String),
}

impl ResponseError for Rejected {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejected::Signature => StatusCode::FORBIDDEN,
            Rejected::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("text/plain")
            .body(self.to_string())
    }
}

fn forbidden(engine: &Engine, req: &HttpRequest, why: &str, call_sid: &str) -> Rejected {
    engine.metrics.signature_failures.inc();
    tracing::warn!(call_sid, path = %req.path(), reason = why, "Twilio request rejected");
    Rejected::Signature
}

/// The validator to use; `None` when checks are off.
fn policy<'a>(
    engine: &'a Engine,
    req: &HttpRequest,
    call_sid: &str,
) -> Result<Option<&'a Validator>, Rejected> {
    match &engine.signatures {
        SignaturePolicy::Verify(v) => Ok(Some(v)),
        SignaturePolicy::Off => Ok(None),
        SignaturePolicy::RejectAll => Err(forbidden(
            engine,
            req,
            "TWILIO_AUTH_TOKEN is not configured",
            call_sid,
        )),
    }
}

fn called_url(engine: &Engine, req: &HttpRequest) -> String {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(req.path());
    engine.public(pq)
}

/// Checks a form-encoded webhook.
pub fn verify_form(
    engine: &Engine,
    req: &HttpRequest,
    params: &[(String, String)],
    call_sid: &str,
) -> Result<(), Rejected> {
    let validator = policy(engine, req, call_sid)?;
    let Some(validator) = validator else {
        return Ok(());
    };
    let Some(sig) = signature(req) else {
        return Err(forbidden(
            engine,
            req,
            "missing X-Twilio-Signature",
            call_sid,
        ));
    };
    validator
        .validate(&called_url(engine, req), params, sig)
        .map_err(|e| forbidden(engine, req, &e.to_string(), call_sid))
}

/// Checks the Media Streams WebSocket upgrade (signed over the stream URL,
/// no parameters).
pub fn verify_websocket(engine: &Engine, req: &HttpRequest) -> Result<(), Rejected> {
    let Some(validator) = policy(engine, req, "-")? else {
        return Ok(());
    };
    let Some(sig) = signature(req) else {
        return Err(forbidden(
            engine,
            req,
            "missing X-Twilio-Signature on the stream handshake",
            "-",
        ));
    };
    validator
        .validate_websocket(&engine.stream_url(), sig)
        .map_err(|e| forbidden(engine, req, &e.to_string(), "-"))
}
