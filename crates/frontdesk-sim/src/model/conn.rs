//! One simulated Realtime session: client events in, server events out, and
//! the paced generation of response audio.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::audio::Voice;
use super::script::{Plan, Speech, IDLE_REPLY};
use super::session::{self, Rejection, Settings};
use super::vad::{Vad, VadEvent};
use super::wire;
use super::{ConnectionBehavior, Shared};

mod items;
mod respond;

type Ws = WebSocketStream<TcpStream>;

/// Why the session loop ends.
#[derive(Debug)]
enum Stop {
    /// The client went away (or the simulator is shutting down).
    Closed,
    /// Scripted: drop the TCP stream without a close frame.
    Abort,
    /// SIP: the call is over at OpenAI (hung up, or referred away); the
    /// sideband socket closes normally (1000).
    CallOver,
}

type Flow = Result<(), Stop>;

/// SIP: how long the simulated caller pauses before answering the model.
const SIP_CALLER_PAUSE: Duration = Duration::from_millis(300);

/// Keys the SDK declares on `response.create.response`.
const RESPONSE_KEYS: &[&str] = &[
    "audio",
    "conversation",
    "input",
    "instructions",
    "max_output_tokens",
    "metadata",
    "output_modalities",
    "parallel_tool_calls",
    "prompt",
    "reasoning",
    "tool_choice",
    "tools",
];

struct Item {
    json: Value,
    /// Audio generated so far, for assistant audio items.
    audio_ms: Option<u64>,
}

/// The speech response being generated.
struct Active {
    id: String,
    item_id: String,
    previous_item: Option<String>,
    speech: Speech,
    metadata: Value,
    audio_ms: u64,
    sent_ms: u64,
    deltas: usize,
    /// Byte offset of the transcript sent so far.
    spoken: usize,
    voice: Voice,
    started: Instant,
    started_input_ms: u64,
    drop_after: Option<usize>,
}

struct Conn {
    shared: Arc<Shared>,
    index: usize,
    conversation_id: String,
    session: Map<String, Value>,
    settings: Settings,
    vad: Vad,
    /// Bytes appended since the last commit or clear.
    buffered: usize,
    speech_item: Option<String>,
    last_item: Option<String>,
    items: HashMap<String, Item>,
    active: Option<Active>,
    tool_output: Option<String>,
    pending_user_turn: bool,
    /// `DropMidResponse` not yet triggered.
    drop_armed: Option<usize>,
    /// Input-audio time at which `timeout_triggered` fires.
    idle_at_ms: Option<u64>,
    audio_emitted: bool,
    /// Conversation size, for plausible usage numbers.
    ctx_text: u64,
    ctx_audio: u64,
    /// Context already seen by an earlier response (reported as cached).
    ctx_cached: u64,
    /// SIP sideband: the call's id. The audio stays on the SIP leg, so no
    /// deltas are sent (`output_audio_buffer.*` instead) and the caller's
    /// scripted turns are spoken here, not appended by the client.
    sip_call: Option<String>,
    /// SIP: when the simulated caller says the next scripted turn.
    caller_at: Option<Instant>,
}

pub(crate) async fn run(
    mut ws: Ws,
    shared: Arc<Shared>,
    index: usize,
    behavior: ConnectionBehavior,
    model: String,
    sip_call: Option<String>,
    mut stopped: watch::Receiver<bool>,
) {
    let session = session::default_session(&model);
    let Ok(settings) = session::settings(&session) else {
        return;
    };
    let mut conn = Conn {
        conversation_id: shared.id("conv"),
        shared,
        index,
        session,
        settings,
        vad: Vad::default(),
        buffered: 0,
        speech_item: None,
        last_item: None,
        items: HashMap::new(),
        active: None,
        tool_output: None,
        pending_user_turn: false,
        drop_armed: match behavior {
            ConnectionBehavior::DropMidResponse { after_deltas } => Some(after_deltas),
            _ => None,
        },
        idle_at_ms: None,
        audio_emitted: false,
        ctx_text: 0,
        ctx_audio: 0,
        ctx_cached: 0,
        sip_call,
        caller_at: None,
    };
    let deaf = behavior == ConnectionBehavior::NoSessionUpdated;
    let oversized = match behavior {
        ConnectionBehavior::OversizedFrame { bytes } => Some(bytes),
        _ => None,
    };
    let stop = conn.serve(&mut ws, deaf, oversized, &mut stopped).await;
    match stop {
        Stop::Abort => {
            tracing::debug!(index, "model simulator dropping the connection (scripted)");
            // Dropping the stream closes the socket without a close frame.
            drop(ws);
        }
        Stop::CallOver => {
            use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
            use tokio_tungstenite::tungstenite::protocol::CloseFrame;
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "call ended".into(),
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        }
        Stop::Closed => {
            // Best effort: a peer that stopped reading must not keep this task alive.
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    async fn serve(
        &mut self,
        ws: &mut Ws,
        deaf: bool,
        oversized: Option<usize>,
        stopped: &mut watch::Receiver<bool>,
    ) -> Stop {
        if let Err(stop) = self.send_session_created(ws).await {
            return stop;
        }
        if let Some(bytes) = oversized {
            let head = r#"{"type":"session.updated","padding":""#;
            let mut text = String::with_capacity(bytes);
            text.push_str(head);
            text.extend(std::iter::repeat_n(
                'x',
                bytes.saturating_sub(head.len() + 2),
            ));
            text.push_str("\"}");
            if ws.send(Message::text(text)).await.is_err() {
                return Stop::Closed;
            }
        }
        let mut ended = self.shared.ended.subscribe();
        loop {
            if self
                .sip_call
                .as_ref()
                .is_some_and(|c| self.shared.call_over(c))
            {
                return Stop::CallOver;
            }
            let due = self.active.as_ref().map(|a| self.due(a));
            let flow = tokio::select! {
                _ = stopped.changed() => Err(Stop::Closed),
                _ = ended.changed() => Ok(()),
                _ = sleep_until(self.caller_at) => self.sip_caller_speaks(ws).await,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        self.shared.with_conn(self.index, |c| c.client_events.push(text.as_str().to_string()));
                        if deaf { Ok(()) } else { self.on_client_event(ws, text.as_str()).await }
                    }
                    Some(Ok(Message::Binary(_))) if !deaf => {
                        self.reject(ws, Rejection::new("invalid_type", "Binary frames are not supported; send JSON text.", None), None).await
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(Stop::Closed),
                    Some(Ok(_)) => Ok(()),
                },
                _ = sleep_until(due) => self.tick(ws).await,
            };
            if let Err(stop) = flow {
                return stop;
            }
        }
    }

    /// SIP: the caller (on the SIP leg, heard by OpenAI's VAD) says the
    /// next scripted turn.
    async fn sip_caller_speaks(&mut self, ws: &mut Ws) -> Flow {
        self.caller_at = None;
        if !self.shared.progress.lock().has_turn(&self.shared.script) {
            return Ok(());
        }
        self.on_speech_started(ws, 0).await?;
        self.on_speech_stopped(ws, 1200).await
    }

    /// SIP: once the model has finished speaking, the caller answers.
    fn sip_caller_next(&mut self) {
        if self.sip_call.is_some() {
            self.caller_at = Some(Instant::now() + SIP_CALLER_PAUSE);
        }
    }

    fn due(&self, a: &Active) -> Instant {
        let speedup = f64::from(self.shared.script.speedup);
        let speedup = if speedup.is_finite() && speedup > 0.0 {
            speedup
        } else {
            1.0
        };
        a.started + Duration::from_secs_f64(a.sent_ms as f64 / 1000.0 / speedup)
    }

    async fn send(&mut self, ws: &mut Ws, mut event: Value) -> Flow {
        if let Some(obj) = event.as_object_mut() {
            obj.insert("event_id".into(), json!(self.shared.id("event")));
        }
        let text = event.to_string();
        self.shared
            .with_conn(self.index, |c| c.server_events.push(text.clone()));
        ws.send(Message::text(text)).await.map_err(|_| Stop::Closed)
    }

    async fn reject(&mut self, ws: &mut Ws, r: Rejection, event_id: Option<&str>) -> Flow {
        let ev = wire::error(
            "invalid_request_error",
            Some(r.code),
            &r.message,
            r.param.as_deref(),
            event_id,
        );
        self.send(ws, ev).await
    }

    async fn send_session_created(&mut self, ws: &mut Ws) -> Flow {
        let mut s = self.session.clone();
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 3600;
        s.insert("object".into(), json!("realtime.session"));
        s.insert("id".into(), json!(self.shared.id("sess")));
        s.insert("expires_at".into(), json!(expires));
        self.send(ws, wire::session_event("session.created", &s))
            .await
    }

    async fn on_client_event(&mut self, ws: &mut Ws, text: &str) -> Flow {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let r = Rejection::new(
                    "invalid_json",
                    format!("The event is not valid JSON: {e}"),
                    None,
                );
                return self.reject(ws, r, None).await;
            }
        };
        let event_id = v
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let eid = event_id.as_deref();
        let Some(kind) = v.get("type").and_then(Value::as_str) else {
            let r = Rejection::new(
                "missing_required_parameter",
                "Missing required parameter: 'type'.",
                Some("type"),
            );
            return self.reject(ws, r, eid).await;
        };
        match kind {
            "session.update" => self.on_session_update(ws, &v, eid).await,
            "input_audio_buffer.append" => self.on_append(ws, &v, eid).await,
            "input_audio_buffer.commit" => self.on_commit(ws, eid).await,
            "input_audio_buffer.clear" => {
                self.buffered = 0;
                self.speech_item = None;
                self.vad.reset_turn();
                self.send(ws, wire::cleared()).await
            }
            "conversation.item.create" => self.on_item_create(ws, &v, eid).await,
            "conversation.item.truncate" => self.on_truncate(ws, &v, eid).await,
            "conversation.item.delete" => {
                let id = v
                    .get("item_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if self.items.remove(&id).is_some() {
                    self.send(ws, wire::item_deleted(&id)).await
                } else {
                    let r = Rejection::new(
                        "item_delete_invalid_item_id",
                        format!("Item with item_id not found: {id}"),
                        Some("item_id"),
                    );
                    self.reject(ws, r, eid).await
                }
            }
            "conversation.item.retrieve" => {
                let id = v.get("item_id").and_then(Value::as_str).unwrap_or_default();
                match self.items.get(id).map(|i| i.json.clone()) {
                    Some(item) => self.send(ws, wire::item_retrieved(&item)).await,
                    None => {
                        let r = Rejection::new(
                            "item_retrieve_invalid_item_id",
                            format!("Item with item_id not found: {id}"),
                            Some("item_id"),
                        );
                        self.reject(ws, r, eid).await
                    }
                }
            }
            "response.create" => self.on_response_create(ws, &v, eid).await,
            "response.cancel" => self.on_response_cancel(ws, &v, eid).await,
            "output_audio_buffer.clear" => {
                let r = Rejection::new(
                    "invalid_value",
                    "output_audio_buffer.clear is only supported for WebRTC and SIP sessions; on WebSocket use response.cancel and conversation.item.truncate.",
                    Some("type"),
                );
                self.reject(ws, r, eid).await
            }
            other => {
                let r = Rejection::new(
                    "invalid_value",
                    format!("Invalid value: '{other}'. Unsupported event type."),
                    Some("type"),
                );
                self.reject(ws, r, eid).await
            }
        }
    }

    async fn on_session_update(&mut self, ws: &mut Ws, v: &Value, eid: Option<&str>) -> Flow {
        let update = v.get("session").cloned().unwrap_or(Value::Null);
        self.shared
            .with_conn(self.index, |c| c.session_updates.push(update.clone()));
        let merged = match session::apply_update(&self.session, &update) {
            Ok(m) => m,
            Err(r) => return self.reject(ws, r, eid).await,
        };
        let settings = match session::settings(&merged) {
            Ok(s) => s,
            Err(r) => return self.reject(ws, r, eid).await,
        };
        if self.audio_emitted && settings.voice != self.settings.voice {
            let r = Rejection::new(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                Some("session.audio.output.voice"),
            );
            return self.reject(ws, r, eid).await;
        }
        if settings.turn.is_none() {
            self.vad.reset_turn();
            self.speech_item = None;
        }
        self.session = merged;
        self.settings = settings;
        let ev = wire::session_event("session.updated", &self.session);
        self.send(ws, ev).await
    }

    async fn on_append(&mut self, ws: &mut Ws, v: &Value, eid: Option<&str>) -> Flow {
        let Some(b64) = v.get("audio").and_then(Value::as_str) else {
            let r = Rejection::new(
                "missing_required_parameter",
                "Missing required parameter: 'audio'.",
                Some("audio"),
            );
            return self.reject(ws, r, eid).await;
        };
        let bytes = match B64.decode(b64) {
            Ok(b) => b,
            Err(_) => {
                let r = Rejection::new(
                    "invalid_value",
                    "Invalid 'audio'. Expected base64-encoded audio bytes.",
                    Some("audio"),
                );
                return self.reject(ws, r, eid).await;
            }
        };
        self.shared
            .with_conn(self.index, |c| c.input_audio.extend_from_slice(&bytes));
        self.buffered += bytes.len();
        let cfg = self.settings.turn.map(|t| t.vad);
        for event in self.vad.feed(self.settings.input, cfg, &bytes) {
            match event {
                VadEvent::Started { audio_start_ms } => {
                    self.on_speech_started(ws, audio_start_ms).await?
                }
                VadEvent::Stopped { audio_end_ms } => {
                    self.on_speech_stopped(ws, audio_end_ms).await?
                }
            }
        }
        self.check_idle(ws).await
    }

    async fn on_speech_started(&mut self, ws: &mut Ws, audio_start_ms: u64) -> Flow {
        let item = self.shared.id("item");
        self.speech_item = Some(item.clone());
        self.idle_at_ms = None;
        self.send(ws, wire::speech_started(audio_start_ms, &item))
            .await?;
        let interrupt = self.settings.turn.is_some_and(|t| t.interrupt_response);
        if interrupt && self.active.is_some() {
            self.cancel(ws, "turn_detected").await?;
        }
        Ok(())
    }

    async fn on_speech_stopped(&mut self, ws: &mut Ws, audio_end_ms: u64) -> Flow {
        let item = self
            .speech_item
            .take()
            .unwrap_or_else(|| self.shared.id("item"));
        self.send(ws, wire::speech_stopped(audio_end_ms, &item))
            .await?;
        let auto = self.settings.turn.is_some_and(|t| t.create_response);
        self.commit_turn(ws, item, auto).await
    }

    async fn on_commit(&mut self, ws: &mut Ws, eid: Option<&str>) -> Flow {
        let ms = self.buffered_ms();
        if ms < 100 {
            let r = Rejection::new(
                "input_audio_buffer_commit_empty",
                format!("Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {ms}ms of audio."),
                None,
            );
            return self.reject(ws, r, eid).await;
        }
        self.vad.reset_turn();
        let item = self
            .speech_item
            .take()
            .unwrap_or_else(|| self.shared.id("item"));
        self.commit_turn(ws, item, false).await
    }

    fn buffered_ms(&self) -> u64 {
        let per_ms = self.settings.input.bytes_for_ms(1).max(1);
        (self.buffered / per_ms) as u64
    }

    /// `committed` + the user item, without consuming a script turn.
    async fn commit_audio(&mut self, ws: &mut Ws, item_id: &str) -> Flow {
        let audio_tokens = self.buffered_ms() / 100 + 1;
        self.buffered = 0;
        self.ctx_audio += audio_tokens;
        let previous = self.last_item.clone();
        self.send(ws, wire::committed(item_id, previous.as_deref()))
            .await?;
        let item = wire::user_audio_item(item_id);
        self.send(
            ws,
            wire::item_event("conversation.item.added", &item, previous.as_deref()),
        )
        .await?;
        self.send(
            ws,
            wire::item_event("conversation.item.done", &item, previous.as_deref()),
        )
        .await?;
        self.last_item = Some(item_id.to_string());
        self.items.insert(
            item_id.to_string(),
            Item {
                json: item,
                audio_ms: None,
            },
        );
        Ok(())
    }

    /// A caller turn ends: commit it, transcribe it, answer it if `respond`.
    async fn commit_turn(&mut self, ws: &mut Ws, item_id: String, respond: bool) -> Flow {
        let audio_tokens = self.buffered_ms() / 100 + 1;
        self.commit_audio(ws, &item_id).await?;
        let (_, caller) = self.shared.progress.lock().commit_turn(&self.shared.script);
        if let Some(text) = &caller {
            self.shared.say("caller", text);
            self.ctx_text += text.len() as u64 / 4;
            if self.settings.transcription {
                self.send(
                    ws,
                    wire::transcription_completed(&item_id, text, audio_tokens),
                )
                .await?;
            }
        }
        if respond && self.active.is_none() {
            self.pending_user_turn = false;
            let plan = self
                .shared
                .progress
                .lock()
                .plan_for_turn(&self.shared.script);
            self.start(ws, plan, Value::Null).await
        } else {
            self.pending_user_turn = true;
            Ok(())
        }
    }

    async fn check_idle(&mut self, ws: &mut Ws) -> Flow {
        let (Some(turn), Some(at)) = (self.settings.turn, self.idle_at_ms) else {
            return Ok(());
        };
        let Some(timeout) = turn.idle_timeout_ms else {
            return Ok(());
        };
        let now = self.vad.pos_ms();
        if now < at || self.vad.in_speech() || self.active.is_some() {
            return Ok(());
        }
        self.idle_at_ms = None;
        let item = self.shared.id("item");
        self.send(
            ws,
            wire::timeout_triggered(at.saturating_sub(timeout), now, &item),
        )
        .await?;
        self.commit_audio(ws, &item).await?;
        if turn.create_response {
            let speech = Speech {
                text: IDLE_REPLY.to_string(),
                answers: None,
                greeting: false,
            };
            self.start(ws, Plan::Speak(speech), Value::Null).await?;
        }
        Ok(())
    }

    async fn on_response_create(&mut self, ws: &mut Ws, v: &Value, eid: Option<&str>) -> Flow {
        if let Some(a) = &self.active {
            let r = Rejection::new(
                "conversation_already_has_active_response",
                format!("Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.", a.id),
                None,
            );
            return self.reject(ws, r, eid).await;
        }
        let params = v.get("response").cloned().unwrap_or(Value::Null);
        if let Some(obj) = params.as_object() {
            if let Some(k) = obj.keys().find(|k| !RESPONSE_KEYS.contains(&k.as_str())) {
                let path = format!("response.{k}");
                let r = Rejection::new(
                    "unknown_parameter",
                    format!("Unknown parameter: '{path}'."),
                    Some(&path),
                );
                return self.reject(ws, r, eid).await;
            }
        }
        let metadata = params.get("metadata").cloned().unwrap_or(Value::Null);
        let output = self.tool_output.take();
        let pending = std::mem::take(&mut self.pending_user_turn);
        let plan = self.shared.progress.lock().plan_for_create(
            &self.shared.script,
            output.as_deref(),
            pending,
        );
        self.start(ws, plan, metadata).await
    }

    async fn on_response_cancel(&mut self, ws: &mut Ws, v: &Value, eid: Option<&str>) -> Flow {
        let wanted = v.get("response_id").and_then(Value::as_str);
        match &self.active {
            Some(a) if wanted.is_none_or(|w| w == a.id) => {
                self.cancel(ws, "client_cancelled").await
            }
            _ => {
                let r = Rejection::new(
                    "response_cancel_not_active",
                    "Cancellation failed: no active response found",
                    None,
                );
                self.reject(ws, r, eid).await
            }
        }
    }
}
