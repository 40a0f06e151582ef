//! X-Twilio-Signature on every Twilio request, the WebSocket handshake
//! included. The URL checked is the one Twilio called: our public URL plus
//! the request's path and query (behind a proxy the local URL differs).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::urls::PublicUrls;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::twilio::signature::Validator;
use crate::twilio::signature::SIGNATURE_HEADER;

/// How Twilio requests are authenticated.
pub enum SignaturePolicy {
    Verify(Validator),
    /// Verification is on but there is no auth token: refuse everything.
    RejectAll,
    /// Switched off explicitly (`server.verify_signatures = false`).
    Off,
}

impl SignaturePolicy {
    /// The policy the configuration asks for; a policy that refuses or
    /// accepts everything is logged loudly.
    pub fn from_config(config: &Config) -> Self {
        match (&config.twilio.auth_token, config.server.verify_signatures) {
            (Some(token), true) => SignaturePolicy::Verify(Validator::new(token.expose())),
            (None, true) => {
                tracing::error!(
                    "TWILIO_AUTH_TOKEN is not set: Twilio requests cannot be verified and will be \
                     refused (403). Set it, or set FRONTDESK__SERVER__VERIFY_SIGNATURES=false for \
                     local experiments"
                );
                SignaturePolicy::RejectAll
            }
            (_, false) => {
                tracing::warn!(
                    "Twilio signature verification is OFF (server.verify_signatures = false): \
                     anyone who finds this server can place calls through it"
                );
                SignaturePolicy::Off
            }
        }
    }

    /// For `/readyz`.
    pub fn describe(&self) -> &'static str {
        match self {
            SignaturePolicy::Verify(_) => "on",
            SignaturePolicy::RejectAll => "no auth token: refusing Twilio requests",
            SignaturePolicy::Off => "off",
        }
    }
}

/// What checking a Twilio request takes: the policy, the URL Twilio
/// signed, and the counter of refusals.
pub struct TwilioAuth {
    pub policy: SignaturePolicy,
    pub urls: PublicUrls,
    pub metrics: Arc<Metrics>,
}

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

fn forbidden(auth: &TwilioAuth, req: &HttpRequest, why: &str, call_sid: &str) -> Rejected {
    auth.metrics.signature_failures.inc();
    tracing::warn!(call_sid, path = %req.path(), reason = why, "Twilio request rejected");
    Rejected::Signature
}

/// The validator to use; `None` when checks are off.
fn policy<'a>(
    auth: &'a TwilioAuth,
    req: &HttpRequest,
    call_sid: &str,
) -> Result<Option<&'a Validator>, Rejected> {
    match &auth.policy {
        SignaturePolicy::Verify(v) => Ok(Some(v)),
        SignaturePolicy::Off => Ok(None),
        SignaturePolicy::RejectAll => Err(forbidden(
            auth,
            req,
            "TWILIO_AUTH_TOKEN is not configured",
            call_sid,
        )),
    }
}

fn called_url(auth: &TwilioAuth, req: &HttpRequest) -> String {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(req.path());
    auth.urls.url(pq)
}

/// Checks a form-encoded webhook.
pub fn verify_form(
    auth: &TwilioAuth,
    req: &HttpRequest,
    params: &[(String, String)],
    call_sid: &str,
) -> Result<(), Rejected> {
    let validator = policy(auth, req, call_sid)?;
    let Some(validator) = validator else {
        return Ok(());
    };
    let Some(sig) = signature(req) else {
        return Err(forbidden(auth, req, "missing X-Twilio-Signature", call_sid));
    };
    validator
        .validate(&called_url(auth, req), params, sig)
        .map_err(|e| forbidden(auth, req, &e.to_string(), call_sid))
}

/// Checks the Media Streams WebSocket upgrade (signed over the stream URL,
/// no parameters).
pub fn verify_websocket(auth: &TwilioAuth, req: &HttpRequest) -> Result<(), Rejected> {
    let Some(validator) = policy(auth, req, "-")? else {
        return Ok(());
    };
    let Some(sig) = signature(req) else {
        return Err(forbidden(
            auth,
            req,
            "missing X-Twilio-Signature on the stream handshake",
            "-",
        ));
    };
    validator
        .validate_websocket(&auth.urls.stream(), sig)
        .map_err(|e| forbidden(auth, req, &e.to_string(), "-"))
}
