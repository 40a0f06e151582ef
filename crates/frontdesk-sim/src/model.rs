//! A scripted OpenAI Realtime (GA) model server.
//!
//! It speaks the GA WebSocket protocol faithfully enough that the engine
//! cannot tell it from the real service in the ways that matter: server VAD
//! on the appended audio, audio responses generated in the session's format
//! faster than real time, function calls, barge-in cancellation, truncation,
//! and the real error codes. What it says comes from a [`ModelScript`]; what
//! it received and sent is kept in a [`SimRecord`] for assertions.
//!
//! Everything is built and read as raw JSON (`serde_json::Value`), on purpose
//! independent of `crate::realtime`, so a bug in the engine's event types
//! cannot hide behind the same bug in the simulator.

mod audio;
mod conn;
mod handshake;
mod script;
mod session;
pub mod sip_rest;
mod vad;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use script::ScriptState;

/// What the simulated model says, and how its connections misbehave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelScript {
    /// Spoken for the first `response.create` before any caller turn.
    pub greeting: String,
    /// Caller turns in order, consumed one per committed caller turn (across connections).
    pub turns: Vec<ScriptTurn>,
    /// Behaviour by connection index (every WebSocket handshake attempt counts).
    pub connections: Vec<ConnectionBehavior>,
    /// Behaviour of connections beyond `connections`.
    pub then: ConnectionBehavior,
    /// Said on a `response.create` with nothing to answer once the greeting was given.
    pub resume_reply: String,
    /// Generated audio per character of text.
    pub audio_ms_per_char: u32,
    /// Audio is generated this many times faster than real time.
    pub speedup: f32,
    /// Audio per `response.output_audio.delta`.
    pub chunk_ms: u32,
    /// When set, the handshake requires `Authorization: Bearer <key>` (else 401).
    pub api_key: Option<String>,
    /// The SIP connector's REST answers (served on the same port).
    pub sip: sip_rest::SipBehavior,
}

impl Default for ModelScript {
    fn default() -> Self {
        ModelScript {
            greeting: "Thank you for calling. How can I help you today?".into(),
            turns: Vec::new(),
            connections: Vec::new(),
            then: ConnectionBehavior::Normal,
            resume_reply: "Sorry, we were cut off for a moment. Where were we?".into(),
            audio_ms_per_char: 55,
            speedup: 4.0,
            chunk_ms: 100,
            api_key: None,
            sip: sip_rest::SipBehavior::default(),
        }
    }
}

/// One caller turn and the model's reaction to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptTurn {
    /// Answer with speech.
    Reply { caller: String, reply: String },
    /// Call a function; once the client sends its output and `response.create`,
    /// say `reply_template` with `{output}` replaced by the output text.
    Tool {
        caller: String,
        name: String,
        arguments: serde_json::Value,
        reply_template: String,
    },
    /// Send an `error` event instead of responding.
    Error {
        caller: String,
        code: String,
        message: String,
    },
    /// A hung session: never answers this turn; a later `response.create`
    /// (from a resumed session) gets `resume_reply`.
    Silent { caller: String },
}

/// How one connection behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectionBehavior {
    Normal,
    /// Close the TCP stream abruptly (no close frame) after `after_deltas`
    /// audio deltas of the first response on this connection that answers a caller turn.
    DropMidResponse {
        after_deltas: usize,
    },
    /// Send `session.created`, then ignore everything.
    NoSessionUpdated,
    /// Refuse the WebSocket handshake with this HTTP status.
    RejectHandshake {
        status: u16,
    },
    /// After `session.created`, send one text frame of `bytes` bytes (a
    /// broken or hostile endpoint), then carry on as normal.
    OversizedFrame {
        bytes: usize,
    },
}

/// Everything the simulator saw and said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimRecord {
    pub connections: Vec<ConnRecord>,
    /// What was said, in order: speaker is `"caller"` (scripted caller text of
    /// each committed turn) or `"model"` (each finished response's text; the
    /// generated part of an interrupted one).
    pub transcript: Vec<(String, String)>,
}

/// One WebSocket handshake attempt and, if accepted, its session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnRecord {
    pub index: usize,
    pub path_and_query: String,
    pub authorization: Option<String>,
    /// Raw JSON text of every client event, in order.
    pub client_events: Vec<String>,
    /// Concatenated decoded bytes of every `input_audio_buffer.append`.
    pub input_audio: Vec<u8>,
    /// `item` of every `conversation.item.create`.
    pub items_created: Vec<serde_json::Value>,
    /// Every `conversation.item.truncate` event.
    pub truncates: Vec<serde_json::Value>,
    /// `session` of every `session.update`.
    pub session_updates: Vec<serde_json::Value>,
    /// Raw JSON text of every server event sent, audio deltas included.
    pub server_events: Vec<String>,
}

/// Every client event of every connection, in connection order.
pub fn all_client_events(rec: &SimRecord) -> Vec<String> {
    rec.connections
        .iter()
        .flat_map(|c| c.client_events.iter().cloned())
        .collect()
}

/// State shared by the accept loop and all connections.
pub(crate) struct Shared {
    pub(crate) script: ModelScript,
    pub(crate) progress: Mutex<ScriptState>,
    pub(crate) record: Mutex<SimRecord>,
    ids: AtomicU64,
    /// SIP calls that are over (hung up or referred away): their sideband
    /// sockets close; `ended` wakes them.
    ended_calls: Mutex<std::collections::HashSet<String>>,
    pub(crate) ended: watch::Sender<u64>,
    pub(crate) sip_requests: Mutex<Vec<sip_rest::SipRequest>>,
}

impl Shared {
    /// A fresh id such as `item_000042`, unique across the simulator.
    pub(crate) fn id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}_sim{n:06}")
    }

    pub(crate) fn with_conn(&self, index: usize, f: impl FnOnce(&mut ConnRecord)) {
        if let Some(c) = self.record.lock().connections.get_mut(index) {
            f(c);
        }
    }

    pub(crate) fn end_call(&self, call_id: &str) {
        self.ended_calls.lock().insert(call_id.to_string());
        self.ended.send_modify(|n| *n += 1);
    }

    pub(crate) fn call_over(&self, call_id: &str) -> bool {
        self.ended_calls.lock().contains(call_id)
    }

    pub(crate) fn say(&self, speaker: &str, text: &str) {
        self.record
            .lock()
            .transcript
            .push((speaker.to_string(), text.to_string()));
    }
}

/// The simulator; see [`ModelSim::start`].
pub struct ModelSim;

impl ModelSim {
    /// Serve `script` on an ephemeral port of 127.0.0.1.
    pub async fn start(script: ModelScript) -> std::io::Result<ModelSimHandle> {
        Self::start_on(script, "127.0.0.1:0").await
    }

    /// Serve `script` on `addr` (for `frontdesk simulate`).
    pub async fn start_on(
        script: ModelScript,
        addr: impl ToSocketAddrs,
    ) -> std::io::Result<ModelSimHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script,
            progress: Mutex::new(ScriptState::default()),
            record: Mutex::new(SimRecord::default()),
            ids: AtomicU64::new(0),
            ended_calls: Mutex::new(Default::default()),
            ended: watch::channel(0).0,
            sip_requests: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        tracing::debug!(%addr, "model simulator listening");
        Ok(ModelSimHandle { addr, shared, stop })
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let stopped = stopped.clone();
                    tokio::spawn(async move {
                        if sip_rest::is_post(&stream).await {
                            sip_rest::serve(stream, shared).await;
                        } else {
                            handshake::serve(stream, shared, stopped).await;
                        }
                    });
                }
                Err(e) => {
                    // Usually EMFILE or a reset before accept; keep serving.
                    tracing::warn!(error = %e, "model simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = stopped.changed() => break,
        }
    }
}

/// A running simulator; dropping it stops the server and its connections.
pub struct ModelSimHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl ModelSimHandle {
    /// The HTTP API base URL to configure as the engine's model base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A snapshot of everything recorded so far.
    pub fn record(&self) -> SimRecord {
        self.shared.record.lock().clone()
    }

    /// Poll the record until `pred` holds or `timeout` passes; returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&SimRecord) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.shared.record.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIP: the call is over at OpenAI; its sideband sockets close
    /// normally (1000) and new ones are closed at once.
    pub fn end_sip_call(&self, call_id: &str) {
        self.shared.end_call(call_id);
    }

    /// Every SIP REST request (accept, reject, refer, hangup) so far.
    pub fn sip_requests(&self) -> Vec<sip_rest::SipRequest> {
        self.shared.sip_requests.lock().clone()
    }

    /// Stop accepting and close every connection (idempotent).
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ModelSimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for ModelSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
