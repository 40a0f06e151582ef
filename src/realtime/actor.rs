//! `RealtimeActor`: one model connection (tokio-tungstenite client).
//!
//! It owns nothing but the socket. Once connected it hands the socket's read
//! half to the owning call ([`ModelReader`]), which reads server events in
//! its own context — one mailbox hop less for every model audio delta — and
//! turns them into signals with [`read_signal`]; the write half stays here,
//! fed by a queue. Signals are tagged with the connection number so a call
//! can ignore a connection it has already replaced. A failure to connect or
//! to write is reported once as `FromModel` with `ModelSignal::Failed` and
//! the actor stops; restarting is the call's decision (actix's `Supervisor`
//! would restart the same instance, with its dead socket).

use std::time::Instant;

use actix::prelude::*;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::audio_sink::{ModelAudioSink, WriterStalled};
use super::events::{parse_server_event, ServerEvent};
use crate::metrics::Metrics;
use std::sync::Arc;

/// tungstenite zero-fills its read buffer before every read; the 128 KiB
/// default made a relay spend a third of its CPU there. Model frames are a
/// few KiB and are read in pieces; 2 KiB keeps the memset out of profiles
/// (docs/benchmarks.md).
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// The largest event a model may send. Audio deltas are a few KiB; a
/// compromised or broken endpoint's 16 MiB frame is refused from its header,
/// before any of it is buffered (tungstenite's default would take 16 MiB
/// frames and 64 MiB messages).
const MAX_MODEL_FRAME_BYTES: usize = 1024 * 1024;

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

/// The read half of a model connection.
pub type ModelFrames = SplitStream<WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>>;

/// The connection is up: its server events are the owner's to read.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ModelReader {
    pub conn: u64,
    pub frames: ModelFrames,
}

/// A client event to send (JSON text).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ToModel(pub String);

/// Close the connection politely; no failure is reported.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

pub(super) enum Outgoing {
    Text(String, Option<Instant>),
    Close,
}

pub struct RealtimeActor {
    conn: u64,
    call_sid: String,
    spec: Option<ModelLinkSpec>,
    owner: Recipient<FromModel>,
    reader: Recipient<ModelReader>,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<Outgoing>,
    rx: Option<mpsc::Receiver<Outgoing>>,
    /// A failure (or shutdown) was already handled.
    done: bool,
    /// `session.update` and the replay all fit the write queue.
    preamble_queued: bool,
}

impl RealtimeActor {
    pub fn new(
        conn: u64,
        call_sid: String,
        spec: ModelLinkSpec,
        owner: Recipient<FromModel>,
        reader: Recipient<ModelReader>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_FRAMES);
        // Queued before the socket exists (and before anyone holds an audio
        // sink), so they are the first frames sent. A fresh queue has room.
        let first = std::iter::once(&spec.session_update).chain(&spec.replay);
        let preamble_queued = first
            .map(|text| tx.try_send(Outgoing::Text(text.clone(), None)))
            .all(|sent| sent.is_ok());
        RealtimeActor {
            conn,
            call_sid,
            spec: Some(spec),
            owner,
            reader,
            metrics,
            tx,
            rx: Some(rx),
            done: false,
            preamble_queued,
        }
    }

    /// Starts the actor; returns its address and a sink that writes caller
    /// audio straight into its write queue.
    pub fn start_with_sink(self) -> (Addr<Self>, ModelAudioSink) {
        let conn = self.conn;
        let tx = self.tx.clone();
        let addr = self.start();
        let sink = ModelAudioSink {
            conn,
            tx,
            on_stall: addr.clone().recipient(),
        };
        (addr, sink)
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

/// Why the model's WebSocket request could not be built.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("bad model URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("OPENAI_API_KEY contains characters not allowed in a header")]
    Key,
}

fn request(
    spec: &ModelLinkSpec,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, RequestError> {
    let mut req = spec
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| RequestError::Url {
            url: spec.url.to_string(),
            reason: e.to_string(),
        })?;
    if let Some(key) = &spec.api_key {
        let value =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| RequestError::Key)?;
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
        if !self.preamble_queued {
            return self.fail(
                "the conversation to replay does not fit the write queue".to_string(),
                ctx,
            );
        }
        let req = match request(&spec) {
            Ok(r) => r,
            Err(reason) => return self.fail(reason.to_string(), ctx),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_frame_size(Some(MAX_MODEL_FRAME_BYTES))
            .max_message_size(Some(MAX_MODEL_FRAME_BYTES));
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
                act.reader.do_send(ModelReader {
                    conn: act.conn,
                    frames: stream,
                });
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

/// What one frame read from the model means for the call: an event, a
/// failure, or nothing (`None`: ping/pong, or a malformed event, counted and
/// logged here).
pub fn read_signal(
    item: Result<Message, WsError>,
    metrics: &Metrics,
    call_sid: &str,
) -> Option<ModelSignal> {
    match item {
        Ok(Message::Text(text)) => match parse_server_event(text.as_str()) {
            Ok(event) => Some(ModelSignal::Event(event)),
            Err(e) => {
                metrics.malformed("model");
                tracing::warn!(%call_sid, error = %e, "malformed model event ignored");
                None
            }
        },
        Ok(Message::Close(frame)) => Some(ModelSignal::Failed(
            frame
                .map(|f| format!("model closed the connection ({}: {})", f.code, f.reason))
                .unwrap_or_else(|| "model closed the connection".to_string()),
        )),
        Ok(Message::Binary(_)) => {
            metrics.malformed("model");
            tracing::warn!(%call_sid, "binary frame from the model ignored");
            None
        }
        Ok(_) => None, // ping/pong are answered by tungstenite
        Err(e) => Some(ModelSignal::Failed(format!("model connection error: {e}"))),
    }
}

impl Handler<ToModel> for RealtimeActor {
    type Result = ();
    fn handle(&mut self, msg: ToModel, ctx: &mut Self::Context) {
        self.queue(Outgoing::Text(msg.0, None), ctx);
    }
}

impl Handler<WriterStalled> for RealtimeActor {
    type Result = ();
    fn handle(&mut self, msg: WriterStalled, ctx: &mut Self::Context) {
        self.fail(msg.0.to_string(), ctx);
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
