//! Health, readiness and metrics for operators and load balancers.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::drain::Drain;
use super::twilio_auth::TwilioAuth;
use crate::call::Calls;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::{Health, SessionStore};
use crate::store::Store;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /readyz`: ready to take calls (not draining, a model key set).
pub async fn readyz(
    store: web::Data<Store>,
    sessions: web::Data<SessionStore>,
    calls: web::Data<Calls>,
    drain: web::Data<Drain>,
    auth: web::Data<TwilioAuth>,
    config: web::Data<Config>,
) -> HttpResponse {
    // Degraded dependencies do not make the engine unready: calls go on
    // (records are buffered, sessions are tracked locally); they are reported.
    // A task of its own: a ping past the deadline is left to finish, never
    // dropped mid-query (see `tools::caller::recognise`).
    let ping = {
        let store = store.get_ref().clone();
        tokio::spawn(async move { store.ping().await })
    };
    let database = match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
        Ok(Ok(Ok(()))) => "ok".to_string(),
        Ok(Ok(Err(e))) => format!("degraded: {e}"),
        Ok(Err(e)) => format!("degraded: {e}"),
        Err(_) => "degraded: no answer within 1 s".to_string(),
    };
    let session_health = match sessions.health() {
        Health::Ok if sessions.is_shared() => "ok (redis)".to_string(),
        Health::Ok => "ok (in memory, single instance)".to_string(),
        Health::Degraded(reason) => format!("degraded: {reason}"),
    };
    // Without a model key every session would be refused and every caller
    // would land in the keypad menu: not a state to send calls to.
    let model_key = config
        .realtime
        .api_key
        .as_ref()
        .is_some_and(|k| !k.is_empty());
    let status = match (drain.is_draining(), model_key) {
        (true, _) => "draining",
        (false, false) => "not ready: OPENAI_API_KEY is not set",
        (false, true) => "ready",
    };
    let body = json!({
        "database": database,
        "sessions": session_health,
        "instance": sessions.instance_id(),
        "status": status,
        "active_calls": calls.len(),
        "model": config.realtime.model,
        "signature_verification": auth.policy.describe(),
    });
    if status != "ready" {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render())
}
