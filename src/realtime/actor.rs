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
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::audio_sink::{ModelAudioSink, WriterStalled};
use super::events::{parse_server_event, ServerEvent};
use super::portable::PortableTcp;
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

/// A model connection's socket.
pub type ModelSocket = WebSocketStream<MaybeTlsStream<PortableTcp>>;
/// The read half of a model connection.
pub type ModelFrames = SplitStream<ModelSocket>;
type ModelSink = SplitSink<ModelSocket, Message>;

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

/// The call moves to another thread: give back the write half and the
/// write queue (everything queued before this is written first) and stop,
/// leaving the connection open. `None` when the writer is already gone.
#[derive(Message)]
#[rtype(result = "Option<WriteHalf>")]
pub struct Release;

/// A model connection's write side, handed from one thread to another.
pub struct WriteHalf {
    sink: ModelSink,
    tx: mpsc::Sender<Outgoing>,
    rx: mpsc::Receiver<Outgoing>,
}

/// A connected model connection on its way to another thread (see
/// [`RealtimeActor::adopt`]).
pub struct MovingConnection {
    pub frames: ModelFrames,
    pub write: WriteHalf,
}

pub enum Outgoing {
    Text(String, Option<Instant>),
    Close,
    Release(oneshot::Sender<(ModelSink, mpsc::Receiver<Outgoing>)>),
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
    /// Adopted from a call that moved threads: already connected.
    adopted: Option<MovingConnection>,
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
            adopted: None,
        }
    }

    /// A connection that a moving call brought to this thread: its socket
    /// is registered with this thread's reactor when the actor starts, and
    /// its queue (with whatever was still in it) is written from here.
    pub fn adopt(
        conn: u64,
        call_sid: String,
        connection: MovingConnection,
        owner: Recipient<FromModel>,
        reader: Recipient<ModelReader>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let tx = connection.write.tx.clone();
        RealtimeActor {
            conn,
            call_sid,
            spec: None,
            owner,
            reader,
            metrics,
            tx,
            rx: None,
            done: false,
            preamble_queued: true,
            adopted: Some(connection),
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
async fn write_loop(mut sink: ModelSink, mut rx: mpsc::Receiver<Outgoing>, metrics: Arc<Metrics>) {
    let mut stamps: Vec<Instant> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        let mut release = None;
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
                Outgoing::Release(give_back) => {
                    release = Some(give_back);
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
        if let Some(give_back) = release {
            let _ = give_back.send((sink, rx));
            return;
        }
        if close {
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
            return;
        }
    }
}

impl RealtimeActor {
    /// The connection is up: writes go from this thread's writer task, and
    /// the read half goes to the call.
    fn run(&mut self, sink: ModelSink, frames: ModelFrames, rx: mpsc::Receiver<Outgoing>) {
        tokio::spawn(write_loop(sink, rx, self.metrics.clone()));
        self.reader.do_send(ModelReader {
            conn: self.conn,
            frames,
        });
    }
}

/// Opens the connection over a [`PortableTcp`] socket (so it can follow its
/// call to another thread), TLS for `wss`, with Nagle off: audio frames
/// must not wait for acknowledgements.
async fn connect(
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
    config: WebSocketConfig,
) -> Result<ModelSocket, WsError> {
    let uri = req.uri();
    let host = uri
        .host()
        .ok_or(WsError::Url(
            tokio_tungstenite::tungstenite::error::UrlError::NoHostName,
        ))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let (ws, _response) = tokio_tungstenite::client_async_tls_with_config(
        req,
        PortableTcp::new(tcp),
        Some(config),
        None,
    )
    .await?;
    Ok(ws)
}

/// Registers the socket under TLS and framing with this thread's reactor.
fn rehome(ws: &mut ModelSocket) -> std::io::Result<()> {
    match ws.get_mut() {
        MaybeTlsStream::Plain(tcp) => tcp.rehome(),
        MaybeTlsStream::Rustls(tls) => tls.get_mut().0.rehome(),
        _ => Err(std::io::Error::other("an unknown kind of model socket")),
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
        if let Some(MovingConnection { frames, write }) = self.adopted.take() {
            let mut sink = write.sink;
            let Ok(mut ws) = frames.reunite(sink) else {
                return self.fail("the model connection came apart moving threads".into(), ctx);
            };
            if let Err(e) = rehome(&mut ws) {
                return self.fail(format!("the model socket could not move threads: {e}"), ctx);
            }
            let (s, stream) = ws.split();
            sink = s;
            return self.run(sink, stream, write.rx);
        }
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
        let connect = async move { connect(req, config).await };
        ctx.spawn(connect.into_actor(self).map(|res, act, ctx| match res {
            Ok(ws) => {
                let (sink, stream) = ws.split();
                let Some(rx) = act.rx.take() else {
                    return;
                };
                act.run(sink, stream, rx);
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

impl Handler<Release> for RealtimeActor {
    type Result = ResponseFuture<Option<WriteHalf>>;
    fn handle(&mut self, _: Release, ctx: &mut Self::Context) -> Self::Result {
        // Nothing more is reported: the call that asked has moved on.
        self.done = true;
        ctx.stop();
        let (give_back, taken) = oneshot::channel();
        let queued = self.tx.try_send(Outgoing::Release(give_back)).is_ok();
        let tx = self.tx.clone();
        Box::pin(async move {
            if !queued {
                return None;
            }
            let (sink, rx) = taken.await.ok()?;
            Some(WriteHalf { sink, tx, rx })
        })
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
