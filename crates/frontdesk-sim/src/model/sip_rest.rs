//! OpenAI's SIP call REST endpoints, served on the model simulator's own
//! port (the engine reaches both at its one `realtime.base_url`):
//! `POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup`. Each is
//! recorded; each answers 200 with an empty body unless the script says
//! otherwise. A taken `refer` or a `hangup` ends the call at "OpenAI": its
//! sideband sockets close normally.
//!
//! A minimal HTTP/1.1 reader (request line, headers, `content-length`
//! body), answering with `connection: close`: enough for the engine's
//! client, and independent of the engine's own HTTP code.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Shared;

/// How the simulated OpenAI answers a SIP call's REST requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SipBehavior {
    /// HTTP status of `accept` (404: the call has gone).
    pub accept_status: u16,
    /// HTTP status of `refer`.
    pub refer_status: u16,
}

impl Default for SipBehavior {
    fn default() -> Self {
        SipBehavior {
            accept_status: 200,
            refer_status: 200,
        }
    }
}

/// One REST request, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct SipRequest {
    pub call_id: String,
    /// `accept`, `reject`, `refer` or `hangup`.
    pub action: String,
    pub authorization: Option<String>,
    /// The JSON body (`Null` when empty).
    pub body: serde_json::Value,
    /// The status answered.
    pub status: u16,
}

const PREFIX: &str = "/v1/realtime/calls/";
const MAX_REQUEST: usize = 1024 * 1024;

/// Whether the connection starts with an HTTP POST (not a WebSocket GET).
pub(crate) async fn is_post(stream: &TcpStream) -> bool {
    let mut head = [0u8; 5];
    // `peek` returns what has arrived so far, possibly fewer than five
    // bytes: wait (briefly) for the whole method.
    for _ in 0..200 {
        match stream.peek(&mut head).await {
            Ok(5) => return &head == b"POST ",
            Ok(0) | Err(_) => return false,
            Ok(n) if !b"POST ".starts_with(&head[..n]) => return false,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
    false
}

pub(crate) async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX_REQUEST {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut length = 0usize;
    let mut authorization = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.to_string());
            }
        }
    }
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < length.min(MAX_REQUEST) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let status = answer(&shared, &path, authorization, &body);
    let reason = if status == 200 { "OK" } else { "Error" };
    let payload = if status == 200 {
        String::new()
    } else {
        serde_json::json!({"error": {"type": "invalid_request_error", "message": "simulated failure"}})
            .to_string()
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn answer(shared: &Shared, path: &str, authorization: Option<String>, body: &[u8]) -> u16 {
    let Some((call_id, action)) = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        return 404;
    };
    let (call_id, action) = (call_id.to_string(), action.to_string());
    let body: serde_json::Value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return 400,
        }
    };
    let script = &shared.script;
    let authorized = script
        .api_key
        .as_ref()
        .is_none_or(|k| authorization.as_deref() == Some(&format!("Bearer {k}")));
    let status = if !authorized {
        401
    } else {
        match action.as_str() {
            // The accept body must be a realtime session.
            "accept" if body["type"] != "realtime" => 400,
            "accept" => script.sip.accept_status,
            "refer"
                if !body["target_uri"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("tel:") || t.starts_with("sip:")) =>
            {
                400
            }
            "refer" => script.sip.refer_status,
            "reject" | "hangup" => 200,
            _ => 404,
        }
    };
    shared.sip_requests.lock().push(SipRequest {
        call_id: call_id.clone(),
        action: action.clone(),
        authorization,
        body,
        status,
    });
    if status == 200 && matches!(action.as_str(), "refer" | "hangup") {
        shared.end_call(&call_id);
    }
    status
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
