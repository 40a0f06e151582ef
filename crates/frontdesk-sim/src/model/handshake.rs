//! The WebSocket handshake: path, model, authorization, scripted refusals.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{conn, ConnRecord, ConnectionBehavior, Shared};

/// The only path served: the SDK's `<base_url>/realtime` for base `/v1`.
const PATH: &str = "/v1/realtime";

/// Why a handshake is refused.
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

fn error_response(r: Refusal) -> ErrorResponse {
    let Refusal {
        status,
        code,
        message,
    } = r;
    let body = serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "code": code, "param": null}
    });
    let mut resp = ErrorResponse::new(Some(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

struct Accepted {
    index: usize,
    behavior: ConnectionBehavior,
    model: String,
    /// A SIP call's sideband socket (`?call_id=`).
    sip_call: Option<String>,
}

fn check(shared: &Shared, req: &Request) -> Result<Accepted, Refusal> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let index = {
        let mut rec = shared.record.lock();
        let index = rec.connections.len();
        rec.connections.push(ConnRecord {
            index,
            path_and_query,
            authorization: authorization.clone(),
            ..ConnRecord::default()
        });
        index
    };
    let behavior = shared
        .script
        .connections
        .get(index)
        .cloned()
        .unwrap_or_else(|| shared.script.then.clone());

    if let ConnectionBehavior::RejectHandshake { status } = behavior {
        return Err(refuse(
            status,
            "simulated_rejection",
            "Connection refused by the simulator script.",
        ));
    }
    if let Some(key) = &shared.script.api_key {
        if authorization.as_deref() != Some(&format!("Bearer {key}")) {
            return Err(refuse(
                401,
                "invalid_api_key",
                "Incorrect API key provided.",
            ));
        }
    }
    if req.uri().path() != PATH {
        return Err(refuse(
            404,
            "not_found",
            format!("Unknown path {}; expected {PATH}.", req.uri().path()),
        ));
    }
    if req
        .headers()
        .get("openai-beta")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("realtime=v1"))
    {
        return Err(refuse(
            400,
            "beta_protocol",
            "OpenAI-Beta: realtime=v1 selects the beta protocol; this server speaks the GA protocol only.",
        ));
    }
    let param = |name: &str| {
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|m| !m.is_empty())
    };
    // A SIP call's sideband socket names the call, whose session already
    // has its model (the `accept` body's).
    let sip_call = param("call_id");
    let model = param("model").or_else(|| sip_call.as_ref().map(|_| "gpt-realtime".to_string()));
    let Some(model) = model else {
        return Err(refuse(
            400,
            "missing_required_parameter",
            "Missing required parameter: 'model'.",
        ));
    };
    Ok(Accepted {
        index,
        behavior,
        model,
        sip_call,
    })
}

/// The handshake callback: records the attempt and decides on it.
struct Gate<'a> {
    shared: &'a Shared,
    accepted: &'a mut Option<Accepted>,
}

impl Callback for Gate<'_> {
    fn on_request(self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        match check(self.shared, req) {
            Ok(a) => {
                *self.accepted = Some(a);
                Ok(resp)
            }
            Err(r) => Err(error_response(r)),
        }
    }
}

pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let mut accepted = None;
    let gate = Gate {
        shared: &shared,
        accepted: &mut accepted,
    };
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let ws = match tokio_tungstenite::accept_hdr_async_with_config(stream, gate, Some(config)).await
    {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(error = %e, "model simulator handshake ended");
            return;
        }
    };
    if let Some(a) = accepted {
        conn::run(
            ws, shared, a.index, a.behavior, a.model, a.sip_call, stopped,
        )
        .await;
    }
}
