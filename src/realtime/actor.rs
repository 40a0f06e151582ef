//! `RealtimeActor`: one model connection (tokio-tungstenite client).
//!
//! It owns nothing but the socket. Server events go to the owning call as
//! `FromModel`, tagged with the connection number so a call can ignore a
//! connection it has already replaced. Any failure — refused handshake,
//! error frame, close, stall — is reported once as `ModelSignal::Failed`
//! and the actor stops; restarting is the call's decision (actix's
//! `Supervisor` would restart the same instance, with its dead socket).

use std::time::Instant;

use actix::prelude::*;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::events::{parse_server_event, ServerEvent};
use crate::metrics::Metrics;
use std::sync::Arc;

/// tungstenite zero-fills its read buffer before every read; the 128 KiB
/// default made a relay spend a third of its CPU there. Model frames are a
/// few KiB and are read in pieces; 2 KiB keeps the memset out of profiles
/// (docs/benchmarks.md).
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// Client events waiting to be written. At 50 audio frames a second this is
/// ten seconds of backlog: a model that stops reading for that long is dead.
const WRITE_QUEUE_FRAMES: usize = 500;

/// What a fresh connection needs.
#[derive(Clone, Debug)]
pub struct ModelLinkSpec {
    pub url: url::Url,
    pub api_key: Option<String>,
    /// The `session.update` event, sent first.
    pub session_update: String,
    /// Client events replaying the conversation so far (resume).
    pub replay: Vec<String>,
}

#[derive(Debug)]
pub enum ModelSignal {
    Event(ServerEvent),
    Failed(String),
}

/// A server event or failure, for the owning call.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FromModel {
    pub conn: u64,
    pub signal: ModelSignal,
    pub received: Instant,
}

/// A client event to send (JSON text).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ToModel(pub String);

/// Caller audio, already in the session's input format (base64).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct CallerAudio {
    pub payload: String,
    /// When the frame arrived from Twilio, for the relay-latency histogram.
    pub received: Instant,
}

/// Close the connection politely; no failure is reported.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

enum Outgoing {
    Text(String, Option<Instant>),
    Close,
}

pub struct RealtimeActor {
    conn: u64,
    call_sid: String,
    spec: Option<ModelLinkSpec>,
    owner: Recipient<FromModel>,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<Outgoing>,
    rx: Option<mpsc::Receiver<Outgoing>>,
    /// A failure (or shutdown) was already handled.
    done: bool,
}

impl RealtimeActor {
    pub fn new(
        conn: u64,
        call_sid: String,
        spec: ModelLinkSpec,
        owner: Recipient<FromModel>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_FRAMES);
        RealtimeActor {
            conn,
            call_sid,
            spec: Some(spec),
            owner,
            metrics,
            tx,
            rx: Some(rx),
            done: false,
        }
    }

    fn queue(&mut self, out: Outgoing, ctx: &mut Context<Self>) {
        if self.done {
            return;
        }
        if let Err(e) = self.tx.try_send(out) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => {
                    "the model stopped reading (write queue full)"
                }
                mpsc::error::TrySendError::Closed(_) => "the model connection's writer is gone",
            };
            self.fail(reason.to_string(), ctx);
        }
    }

    fn fail(&mut self, reason: String, ctx: &mut Context<Self>) {
        if !self.done {
            self.done = true;
            tracing::warn!(call_sid = %self.call_sid, conn = self.conn, %reason, "model connection failed");
            self.owner.do_send(FromModel {
                conn: self.conn,
                signal: ModelSignal::Failed(reason),
                received: Instant::now(),
            });
        }
        ctx.stop();
    }
}

/// Writes queued client events, feeding everything already queued before one
/// flush: under load several frames share a syscall.
async fn write_loop<S>(mut sink: S, mut rx: mpsc::Receiver<Outgoing>, metrics: Arc<Metrics>)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut stamps: Vec<Instant> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        while let Some(out) = next.take() {
            match out {
                Outgoing::Text(text, stamp) => {
                    if sink.feed(Message::text(text)).await.is_err() {
                        return; // the reader sees the same failure
                    }
                    stamps.extend(stamp);
                }
                Outgoing::Close => {
                    close = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
        for t in stamps.drain(..) {
            metrics.observe_relay("to_model", t.elapsed());
        }
        if close {
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
            return;
        }
    }
}

fn request(
    spec: &ModelLinkSpec,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
    let mut req = spec
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad model URL {}: {e}", spec.url))?;
    if let Some(key) = &spec.api_key {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            "OPENAI_API_KEY contains characters not allowed in a header".to_string()
        })?;
        req.headers_mut().insert("Authorization", value);
    }
    Ok(req)
}

impl Actor for RealtimeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(spec) = self.spec.take() else {
            return;
        };
        // Queued before the socket exists, so they are the first frames sent.
        self.queue(Outgoing::Text(spec.session_update.clone(), None), ctx);
        for item in &spec.replay {
            self.queue(Outgoing::Text(item.clone(), None), ctx);
        }
        let req = match request(&spec) {
            Ok(r) => r,
            Err(reason) => return self.fail(reason, ctx),
        };
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let connect = async move {
            tokio_tungstenite::connect_async_with_config(req, Some(config), true).await
        };
        ctx.spawn(connect.into_actor(self).map(|res, act, ctx| match res {
            Ok((ws, _response)) => {
                let (sink, stream) = ws.split();
                let Some(rx) = act.rx.take() else {
                    return;
                };
                let metrics = act.metrics.clone();
                tokio::spawn(write_loop(sink, rx, metrics));
                ctx.add_stream(stream);
            }
            Err(e) => {
                let reason = match e {
                    WsError::Http(resp) => {
                        format!("model refused the connection: HTTP {}", resp.status())
                    }
                    other => format!("could not connect to the model: {other}"),
                };
                act.fail(reason, ctx);
            }
        }));
    }
}

impl StreamHandler<Result<Message, WsError>> for RealtimeActor {
    fn handle(&mut self, item: Result<Message, WsError>, ctx: &mut Self::Context) {
        let received = Instant::now();
        match item {
            Ok(Message::Text(text)) => match parse_server_event(text.as_str()) {
                Ok(event) => self.owner.do_send(FromModel {
                    conn: self.conn,
                    signal: ModelSignal::Event(event),
                    received,
                }),
                Err(e) => {
                    self.metrics.malformed("model");
                    tracing::warn!(call_sid = %self.call_sid, error = %e, "malformed model event ignored");
                }
            },
            Ok(Message::Close(frame)) => {
                let reason = frame
                    .map(|f| format!("model closed the connection ({}: {})", f.code, f.reason))
                    .unwrap_or_else(|| "model closed the connection".to_string());
                self.fail(reason, ctx);
            }
            Ok(Message::Binary(_)) => {
                self.metrics.malformed("model");
                tracing::warn!(call_sid = %self.call_sid, "binary frame from the model ignored");
            }
            Ok(_) => {} // ping/pong are answered by tungstenite
            Err(e) => self.fail(format!("model connection error: {e}"), ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.fail("model connection ended".to_string(), ctx);
    }
}

impl Handler<ToModel> for RealtimeActor {
    type Result = ();
    fn handle(&mut self, msg: ToModel, ctx: &mut Self::Context) {
        self.queue(Outgoing::Text(msg.0, None), ctx);
    }
}

impl Handler<CallerAudio> for RealtimeActor {
    type Result = ();
    fn handle(&mut self, msg: CallerAudio, ctx: &mut Self::Context) {
        let text = super::events::input_audio_append_json(&msg.payload);
        self.queue(Outgoing::Text(text, Some(msg.received)), ctx);
    }
}

impl Handler<Shutdown> for RealtimeActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        if !self.done {
            let _ = self.tx.try_send(Outgoing::Close);
            self.done = true;
        }
        ctx.stop();
    }
}
