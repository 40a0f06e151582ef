//! Slow and greedy clients. Every request Frontdesk serves is small and comes
//! from Twilio, an operator or a load balancer, so a client that trickles its
//! headers or body, or opens hundreds of sockets, is never doing legitimate
//! work: it holds a worker's connection slot. Three bounds:
//!
//! - the request head must arrive within `server.header_timeout_ms`
//!   (actix-web's client request timeout, set in [`super::serve`]);
//! - the whole body must arrive within `server.body_timeout_ms`, and is read
//!   here before any handler runs, so no handler can wait on a slow client;
//! - one peer address holds at most `server.max_unproven_connections_per_peer`
//!   connections that have not yet carried a successful Twilio request; past
//!   that its unsigned requests are answered 503 and the connection closed,
//!   and a request that carries `X-Twilio-Signature` must bring its whole
//!   body within [`PRESSURE_BODY_TIMEOUT`] (the handler then checks the
//!   signature). Proven connections do not count, so Twilio (or a load
//!   balancer in front of Frontdesk) can hold as many live streams as there
//!   are calls — and a burst of new calls through one balancer address (a
//!   failover, a busy morning) is served — while one address cannot pin
//!   hundreds of idle or trickling sockets.
//!
//! A refused request gets a clear status, `Connection: close` and one log line.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{Error, HttpMessage as _, HttpResponse};
use futures_util::StreamExt as _;
use parking_lot::Mutex;

/// The body deadline of a signed request from an address over its share:
/// Twilio sends a webhook's small body at once; only a trickler needs more.
pub const PRESSURE_BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// The bounds, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_timeout: Duration,
    /// Bodies larger than this are refused (413) without reading the rest.
    pub max_body_bytes: usize,
    /// 0 disables the per-peer cap.
    pub max_unproven_per_peer: usize,
}

/// Unproven connections per peer address, shared by every worker.
#[derive(Debug, Default, Clone)]
pub struct PeerConnections {
    unproven: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held in a connection's data for as long as the connection lives; counts
/// the connection against its peer until it is proven or dropped.
#[derive(Debug)]
pub struct PeerSlot {
    peer: IpAddr,
    proven: Cell<bool>,
    table: PeerConnections,
}

impl PeerSlot {
    /// The connection carried a successful Twilio request: stop counting it.
    fn prove(&self) {
        if !self.proven.replace(true) {
            self.table.release(self.peer);
        }
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if !self.proven.get() {
            self.table.release(self.peer);
        }
    }
}

impl PeerConnections {
    /// Counts a new connection (from actix-web's `on_connect`).
    pub fn on_connect(&self, conn: &dyn std::any::Any, data: &mut Extensions) {
        let Some(peer) = conn
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|s| s.peer_addr().ok())
        else {
            return;
        };
        let peer = peer.ip();
        *self.unproven.lock().entry(peer).or_insert(0) += 1;
        data.insert(PeerSlot {
            peer,
            proven: Cell::new(false),
            table: self.clone(),
        });
    }

    /// Connections from `peer` that have not carried a successful Twilio
    /// request yet.
    pub fn unproven_from(&self, peer: IpAddr) -> usize {
        self.unproven.lock().get(&peer).copied().unwrap_or(0)
    }

    fn release(&self, peer: IpAddr) {
        let mut unproven = self.unproven.lock();
        if let Some(n) = unproven.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                unproven.remove(&peer);
            }
        }
    }
}

/// The middleware: the per-peer cap, then the whole body within its deadline.
pub async fn enforce(
    limits: Limits,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let slot = req.conn_data::<PeerSlot>();
    let mut body_timeout = limits.body_timeout;
    if let (Some(slot), true) = (slot, limits.max_unproven_per_peer > 0) {
        if !slot.proven.get() {
            let open = slot.table.unproven_from(slot.peer);
            let signed = req.headers().contains_key("x-twilio-signature")
                || req.headers().contains_key("webhook-signature");
            if open > limits.max_unproven_per_peer && signed {
                body_timeout = body_timeout.min(PRESSURE_BODY_TIMEOUT);
            } else if open > limits.max_unproven_per_peer {
                tracing::warn!(
                    peer = %slot.peer,
                    open,
                    path = req.path(),
                    "refused: too many connections from one address"
                );
                return Ok(refuse(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections from this address\n",
                ));
            }
        }
    }
    if has_body(&req) {
        match read_body(req.take_payload(), body_timeout, limits.max_body_bytes).await {
            Ok(body) => req.set_payload(Payload::from(body)),
            Err(BodyError::Slow) => {
                tracing::warn!(path = req.path(), peer = ?req.peer_addr(), "refused: request body not received in time");
                return Ok(refuse(
                    req,
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time\n",
                ));
            }
            Err(BodyError::TooLarge) => {
                tracing::warn!(path = req.path(), peer = ?req.peer_addr(), "refused: request body too large");
                return Ok(refuse(
                    req,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large\n",
                ));
            }
            Err(BodyError::Broken) => {
                tracing::warn!(path = req.path(), peer = ?req.peer_addr(), "refused: request body unreadable");
                return Ok(refuse(
                    req,
                    StatusCode::BAD_REQUEST,
                    "request body unreadable\n",
                ));
            }
        }
    }
    // A verified OpenAI webhook (SIP calls) proves its peer as a Twilio
    // request does: the handler answers 2xx only past the signature.
    let proves = req.path().starts_with("/twilio/") || req.path() == "/openai/webhook";
    let res = next.call(req).await?;
    let status = res.status();
    if proves && (status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS) {
        if let Some(slot) = res.request().conn_data::<PeerSlot>() {
            slot.prove();
        }
    }
    Ok(res.map_into_boxed_body())
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().map_or("?", str::trim));
    headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l != "0")
}

enum BodyError {
    Slow,
    TooLarge,
    Broken,
}

async fn read_body(
    mut payload: Payload,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Bytes, BodyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => return Err(BodyError::Slow),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > max_bytes {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

fn refuse(req: ServiceRequest, status: StatusCode, why: &'static str) -> ServiceResponse<BoxBody> {
    let response = HttpResponse::build(status)
        .insert_header((header::CONNECTION, "close"))
        .content_type("text/plain; charset=utf-8")
        .body(why);
    let mut res = req.into_response(response);
    // Close even if the client asked for keep-alive: it has misbehaved.
    res.response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    res
}
