//! Health, readiness and metrics for operators and load balancers.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::engine::Engine;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /readyz`: ready to take calls (not draining).
pub async fn readyz(engine: web::Data<Arc<Engine>>) -> HttpResponse {
    let body = json!({
        "status": if engine.is_draining() { "draining" } else { "ready" },
        "active_calls": engine.registry.len(),
        "model": engine.config.realtime.model,
        "signature_verification": match engine.signatures {
            crate::engine::SignaturePolicy::Verify(_) => "on",
            crate::engine::SignaturePolicy::RejectAll => "no auth token: refusing Twilio requests",
            crate::engine::SignaturePolicy::Off => "off",
        },
    });
    if engine.is_draining() {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(engine: web::Data<Arc<Engine>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(engine.metrics.render())
}
