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
    // Degraded dependencies do not make the engine unready: calls go on
    // (records are buffered, sessions are tracked locally); they are reported.
    let database =
        match tokio::time::timeout(std::time::Duration::from_secs(1), engine.store.ping()).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("degraded: {e}"),
            Err(_) => "degraded: no answer within 1 s".to_string(),
        };
    let sessions = match engine.sessions.health() {
        crate::session::Health::Ok if engine.sessions.is_shared() => "ok (redis)".to_string(),
        crate::session::Health::Ok => "ok (in memory, single instance)".to_string(),
        crate::session::Health::Degraded(reason) => format!("degraded: {reason}"),
    };
    let body = json!({
        "database": database,
        "sessions": sessions,
        "instance": engine.sessions.instance_id(),
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
