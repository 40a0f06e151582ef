//! A business's HTTP endpoint, simulated: it receives Frontdesk's event
//! webhooks and HTTP-tool calls, verifies their Standard Webhooks signature
//! (with `frontdesk_wire::standard_webhooks`, the code the official SDK
//! oracle checks), and records everything it got.
//!
//! It can be told to misbehave:
//! - as a webhook receiver (any path outside `/tools/`): answer 503 always,
//!   for a while, or for the next N requests;
//! - as an HTTP tool backend (`/tools/…`): answer a JSON value, hang, answer
//!   garbage, answer too much, or answer with an error status.
//!
//! A request whose signature does not verify gets 401 and is recorded with
//! the reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use frontdesk_wire::standard_webhooks::{
    SigningKey, DEFAULT_TOLERANCE_SECS, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use parking_lot::Mutex;
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: String,
    /// `Ok` when the signature verified; else why not.
    pub verified: Result<(), String>,
    /// The status this receiver answered with.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// How the webhook side answers.
#[derive(Debug, Clone)]
enum Failing {
    No,
    Always(u16),
    Until(Instant),
    Next(u32),
}

/// How the tool side (`/tools/…`) answers.
#[derive(Debug, Clone)]
pub enum ToolBehaviour {
    /// 200 with this JSON.
    Answer(Value),
    /// Never answers (until the request is dropped).
    Hang,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a JSON string of this many bytes.
    Huge(usize),
    /// This status with a short text.
    Status(u16),
}

struct State {
    key: SigningKey,
    received: Mutex<Vec<Received>>,
    failing: Mutex<Failing>,
    /// By path; paths not set answer `{"ok": true}`.
    tools: Mutex<std::collections::HashMap<String, ToolBehaviour>>,
    arrived: tokio::sync::Notify,
}

/// Entry point; see [`WebhookReceiver::start`].
pub struct WebhookReceiver;

impl WebhookReceiver {
    /// Binds 127.0.0.1 on a free port; `secret` is the `whsec_…` secret the
    /// engine signs with.
    pub async fn start(secret: &str) -> std::io::Result<WebhookReceiverHandle> {
        let key = SigningKey::parse(secret)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let state = Arc::new(State {
            key,
            received: Mutex::new(Vec::new()),
            failing: Mutex::new(Failing::No),
            tools: Mutex::new(std::collections::HashMap::new()),
            arrived: tokio::sync::Notify::new(),
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
        let address = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("the webhook receiver bound no address"))?;
        let server = server.run();
        let server_handle = server.handle();
        actix_rt::spawn(server);
        Ok(WebhookReceiverHandle {
            base_url: format!("http://{address}"),
            state,
            server: server_handle,
        })
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (id, timestamp, signature) = (
        header(HEADER_ID),
        header(HEADER_TIMESTAMP),
        header(HEADER_SIGNATURE),
    );
    let verified = state
        .key
        .verify(
            id.as_deref(),
            timestamp.as_deref(),
            signature.as_deref(),
            &body,
            chrono::Utc::now().timestamp(),
            DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|e| e.to_string());
    let path = req.path().to_owned();
    let (status, response, hang) = if verified.is_err() {
        (
            401,
            HttpResponse::Unauthorized().body("bad signature"),
            false,
        )
    } else if path.starts_with("/tools/") {
        let behaviour = state
            .tools
            .lock()
            .get(&path)
            .cloned()
            .unwrap_or_else(|| ToolBehaviour::Answer(serde_json::json!({"ok": true})));
        match behaviour {
            ToolBehaviour::Answer(v) => (200, HttpResponse::Ok().json(v), false),
            ToolBehaviour::Hang => (0, HttpResponse::Ok().finish(), true),
            ToolBehaviour::Garbage => (
                200,
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body("<html>oops</html>"),
                false,
            ),
            ToolBehaviour::Huge(n) => (
                200,
                HttpResponse::Ok().json(Value::String("x".repeat(n))),
                false,
            ),
            ToolBehaviour::Status(s) => (
                s,
                HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(s)
                        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
                )
                .body("tool backend error"),
                false,
            ),
        }
    } else {
        let mut failing = state.failing.lock();
        let fail = match &mut *failing {
            Failing::No => None,
            Failing::Always(s) => Some(*s),
            Failing::Until(t) if Instant::now() < *t => Some(503),
            Failing::Until(_) => None,
            Failing::Next(0) => None,
            Failing::Next(n) => {
                *n -= 1;
                Some(503)
            }
        };
        match fail {
            Some(s) => (
                s,
                HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(s)
                        .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE),
                )
                .body("receiver down"),
                false,
            ),
            None => (204, HttpResponse::NoContent().finish(), false),
        }
    };
    state.received.lock().push(Received {
        method: req.method().to_string(),
        path,
        id,
        timestamp,
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
        answered: status,
    });
    state.arrived.notify_waiters();
    if hang {
        // Longer than any tool timeout; the engine gives up first.
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    response
}

/// A running receiver.
#[derive(Clone)]
pub struct WebhookReceiverHandle {
    base_url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl WebhookReceiverHandle {
    /// `http://127.0.0.1:<port>{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().clone()
    }

    /// What was delivered (answered 2xx) on the webhook side, in order.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| !r.path.starts_with("/tools/") && (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits until `pred` holds for what was received, or `timeout` passes;
    /// returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.state.arrived.notified();
            if pred(&self.state.received.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return pred(&self.state.received.lock());
            }
        }
    }

    /// Answers 503 to every webhook (`status` to choose another).
    pub fn fail_always(&self, status: u16) {
        *self.state.failing.lock() = Failing::Always(status);
    }

    /// Answers 503 to every webhook for `d` from now.
    pub fn fail_for(&self, d: Duration) {
        *self.state.failing.lock() = Failing::Until(Instant::now() + d);
    }

    /// Answers 503 to the next `n` webhooks.
    pub fn fail_next(&self, n: u32) {
        *self.state.failing.lock() = Failing::Next(n);
    }

    /// Accepts webhooks again.
    pub fn recover(&self) {
        *self.state.failing.lock() = Failing::No;
    }

    /// How the tool at `path` (under `/tools/`) answers from now on.
    pub fn set_tool(&self, path: &str, behaviour: ToolBehaviour) {
        self.state.tools.lock().insert(path.to_owned(), behaviour);
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "whsec_c2ltLXJlY2VpdmVyLXNlY3JldA==";

    async fn post(url: &str, key: &SigningKey, body: &str) -> reqwest::Response {
        let ts = chrono::Utc::now().timestamp();
        let mut req = reqwest::Client::new().post(url).body(body.to_owned());
        for (k, v) in key.headers("msg_1", ts, body.as_bytes()) {
            req = req.header(k, v);
        }
        req.send().await.unwrap()
    }

    #[actix_rt::test]
    async fn verifies_records_and_fails_on_demand() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rx = WebhookReceiver::start(SECRET).await.unwrap();
        let key = SigningKey::parse(SECRET).unwrap();
        assert_eq!(post(&rx.url("/hooks"), &key, "{}").await.status(), 204);
        let wrong = SigningKey::parse("whsec_b3RoZXI=").unwrap();
        assert_eq!(post(&rx.url("/hooks"), &wrong, "{}").await.status(), 401);
        rx.fail_next(1);
        assert_eq!(post(&rx.url("/hooks"), &key, "{}").await.status(), 503);
        assert_eq!(post(&rx.url("/hooks"), &key, "{}").await.status(), 204);
        rx.set_tool("/tools/x", ToolBehaviour::Garbage);
        let r = post(&rx.url("/tools/x"), &key, "{}").await;
        assert_eq!(r.text().await.unwrap(), "<html>oops</html>");
        let got = rx.received();
        assert_eq!(got.len(), 5);
        assert!(got[0].verified.is_ok());
        assert!(got[1].verified.is_err());
        assert_eq!(rx.delivered().len(), 2);
        rx.stop().await;
    }
}
