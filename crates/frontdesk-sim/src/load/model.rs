//! A minimal Realtime model server for load: it answers the session
//! handshake, speaks a short greeting at once, and from the first caller
//! audio on streams one 20 ms `response.output_audio.delta` every 20 ms
//! inside one long response, so the engine relays audio both ways all the
//! time. On order it queues audio ahead of real time and reports caller
//! speech (`input_audio_buffer.speech_started`), as server VAD does on a
//! barge-in, to time the engine's `clear`.

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::caller::random_phase;
use super::frame::{str_field, FrameId, FRAME_MS};
use super::shared::{ModelOrder, Shared};

/// How long the simulated caller talks over the assistant.
const BARGE_IN_SPEECH: Duration = Duration::from_millis(300);
const APPEND_PREFIX: &str = r#"{"type":"input_audio_buffer.append""#;

/// Accepts model connections until the runtime ends.
pub async fn serve(listener: TcpListener, shared: Rc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::task::spawn_local(connection(stream, Rc::clone(&shared)));
            }
            Err(e) => {
                // EMFILE and the like: say so once in a while and keep serving.
                tracing::warn!(error = %e, "model accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path().ends_with("/realtime") {
        Ok(resp)
    } else {
        let mut refusal = ErrorResponse::new(Some("not found".into()));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

async fn connection(stream: TcpStream, shared: Rc<Shared>) {
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let socket =
        match tokio_tungstenite::accept_hdr_async_with_config(stream, check_path, Some(config))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "model handshake failed");
                return;
            }
        };
    let id = shared.next_model_conn.get();
    shared.next_model_conn.set(id + 1);
    shared.stats.borrow_mut().model_connections += 1;
    let mut conn = Conn {
        shared: &shared,
        socket,
        id,
        events: 0,
        responses: 0,
        greeted: false,
        streaming: false,
        response: None,
        seq: 0,
        last_caller_seq: None,
        speaking_until: None,
        audio_ms: 0,
        out: String::with_capacity(512),
    };
    if let Err(e) = conn.serve().await {
        tracing::debug!(conn = id, error = %e, "model connection ended");
    }
}

struct Conn<'a> {
    shared: &'a Shared,
    socket: WebSocketStream<TcpStream>,
    id: u32,
    events: u64,
    responses: u32,
    greeted: bool,
    /// Caller audio has arrived after the greeting: keep talking.
    streaming: bool,
    /// The response being spoken: its id and the delta text up to the payload.
    response: Option<(String, String, String)>,
    seq: u32,
    last_caller_seq: Option<u32>,
    /// Simulated caller speech in progress (µs on the run clock).
    speaking_until: Option<u32>,
    /// Caller audio appended so far, for the VAD events' offsets.
    audio_ms: u64,
    out: String,
}

type Res = Result<(), String>;

impl Conn<'_> {
    async fn serve(&mut self) -> Res {
        let created = format!(
            r#"{{"type":"session.created","event_id":"{}","session":{{"type":"realtime","object":"realtime.session","id":"sess_load{}","model":"gpt-realtime","output_modalities":["audio"]}}}}"#,
            self.event_id(),
            self.id
        );
        self.send(created).await?;
        let period = Duration::from_millis(self.shared.plan.delta_ms);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + random_phase(), period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                incoming = self.socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await?,
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                },
                _ = ticker.tick() => self.on_tick().await?,
            }
        }
    }

    fn event_id(&mut self) -> String {
        self.events += 1;
        format!("ev{}_{}", self.id, self.events)
    }

    async fn send(&mut self, text: String) -> Res {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    async fn feed(&mut self, text: String) -> Res {
        self.socket
            .feed(Message::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    async fn flush(&mut self) -> Res {
        self.socket.flush().await.map_err(|e| e.to_string())
    }

    async fn on_text(&mut self, text: &str) -> Res {
        if text.starts_with(APPEND_PREFIX) {
            self.on_append(text);
            return Ok(());
        }
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        match kind.as_str() {
            "session.update" => {
                {
                    let mut st = self.shared.stats.borrow_mut();
                    st.session_update_bytes = st.session_update_bytes.max(text.len() as u64);
                }
                let updated = format!(
                    r#"{{"type":"session.updated","event_id":"{}","session":{{"type":"realtime","model":"gpt-realtime","output_modalities":["audio"],"audio":{{"input":{{"format":{{"type":"audio/pcmu"}}}},"output":{{"format":{{"type":"audio/pcmu"}},"voice":"marin"}}}}}}}}"#,
                    self.event_id()
                );
                self.send(updated).await
            }
            "response.create" if !self.greeted => self.greet().await,
            "response.create" => {
                self.end_response("completed").await?;
                self.start_response().await?;
                self.flush().await
            }
            "response.cancel" => {
                self.end_response("cancelled").await?;
                self.flush().await
            }
            "conversation.item.truncate" => {
                let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                let truncated = serde_json::json!({
                    "type": "conversation.item.truncated",
                    "event_id": self.event_id(),
                    "item_id": v.get("item_id").cloned().unwrap_or_default(),
                    "content_index": 0,
                    "audio_end_ms": v.get("audio_end_ms").cloned().unwrap_or_default(),
                });
                self.send(truncated.to_string()).await
            }
            _ => Ok(()),
        }
    }

    fn on_append(&mut self, text: &str) {
        self.audio_ms += FRAME_MS;
        if self.greeted {
            self.streaming = true;
        }
        let Some(id) = str_field(text, "audio").and_then(FrameId::read) else {
            return;
        };
        let now = self.shared.now_us();
        let in_window = self.shared.in_window(id.sent_us);
        let mut st = self.shared.stats.borrow_mut();
        if let Some(last) = self.last_caller_seq {
            if in_window && id.seq > last.wrapping_add(1) {
                st.to_model.gaps += u64::from(id.seq - last - 1);
            }
        }
        self.last_caller_seq = Some(id.seq);
        if in_window {
            st.to_model.received += 1;
            st.to_model.latency.push(now.wrapping_sub(id.sent_us));
        }
    }

    /// The greeting, at once: an instant model.
    async fn greet(&mut self) -> Res {
        self.greeted = true;
        self.start_response().await?;
        for _ in 0..self.shared.plan.greeting_deltas {
            self.feed_delta().await?;
        }
        self.end_response("completed").await?;
        self.flush().await
    }

    async fn start_response(&mut self) -> Res {
        self.responses += 1;
        let response_id = format!("resp_load{}_{}", self.id, self.responses);
        let item_id = format!("item_load{}_{}", self.id, self.responses);
        let created = format!(
            r#"{{"type":"response.created","event_id":"{}","response":{{"id":"{response_id}","object":"realtime.response","status":"in_progress","output":[],"output_modalities":["audio"],"audio":{{"output":{{"format":{{"type":"audio/pcmu"}},"voice":"marin"}}}}}}}}"#,
            self.event_id()
        );
        self.feed(created).await?;
        let added = format!(
            r#"{{"type":"response.output_item.added","event_id":"{}","response_id":"{response_id}","output_index":0,"item":{{"id":"{item_id}","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}}}}"#,
            self.event_id()
        );
        self.feed(added).await?;
        let delta_head = format!(
            r#"","response_id":"{response_id}","item_id":"{item_id}","output_index":0,"content_index":0,"delta":""#
        );
        self.response = Some((response_id, item_id, delta_head));
        Ok(())
    }

    async fn end_response(&mut self, status: &str) -> Res {
        let Some((response_id, item_id, _)) = self.response.take() else {
            return Ok(());
        };
        if status == "completed" {
            let done = format!(
                r#"{{"type":"response.output_audio.done","event_id":"{}","response_id":"{response_id}","item_id":"{item_id}","output_index":0,"content_index":0}}"#,
                self.event_id()
            );
            self.feed(done).await?;
        }
        let details = if status == "cancelled" {
            r#"{"type":"cancelled","reason":"turn_detected"}"#
        } else {
            "null"
        };
        let done = format!(
            r#"{{"type":"response.done","event_id":"{}","response":{{"id":"{response_id}","object":"realtime.response","status":"{status}","status_details":{details},"output":[]}}}}"#,
            self.event_id()
        );
        self.feed(done).await
    }

    /// One 20 ms delta of the current response, stamped now.
    async fn feed_delta(&mut self) -> Res {
        let Some((_, _, head)) = &self.response else {
            return Ok(());
        };
        self.seq += 1;
        self.events += 1;
        let now = self.shared.now_us();
        self.out.clear();
        let _ = write!(
            self.out,
            r#"{{"type":"response.output_audio.delta","event_id":"ev{}_{}"#,
            self.id, self.events
        );
        self.out.push_str(head);
        self.shared.model_audio.push(
            FrameId {
                conn: self.id,
                seq: self.seq,
                sent_us: now,
            },
            &mut self.out,
        );
        self.out.push_str("\"}");
        if self.shared.in_window(now) {
            self.shared.stats.borrow_mut().to_caller.sent += 1;
        }
        let text = self.out.clone();
        self.feed(text).await
    }

    async fn on_tick(&mut self) -> Res {
        let now = self.shared.now_us();
        if let Some(until) = self.speaking_until {
            if now.wrapping_sub(until) > u32::MAX / 2 {
                return Ok(()); // the caller is still talking
            }
            self.speaking_until = None;
            self.caller_stopped().await?;
        }
        if !self.streaming {
            return Ok(());
        }
        let order = self.shared.orders.borrow_mut().remove(&self.id);
        if order == Some(ModelOrder::BargeIn) {
            return self.barge_in(now).await;
        }
        if self.shared.caller_lead_us(self.id, now) > self.shared.plan.max_lead_us {
            self.shared.stats.borrow_mut().model_deltas_held += 1;
            return Ok(());
        }
        if self.response.is_none() {
            self.start_response().await?;
        }
        self.feed_delta().await?;
        self.flush().await
    }

    /// Audio queued ahead of real time, then the caller speaks over it.
    async fn barge_in(&mut self, now: u32) -> Res {
        if self.response.is_none() {
            self.start_response().await?;
        }
        for _ in 0..self.shared.plan.burst_deltas {
            self.feed_delta().await?;
        }
        let started = format!(
            r#"{{"type":"input_audio_buffer.speech_started","event_id":"{}","audio_start_ms":{},"item_id":"item_caller{}_{}"}}"#,
            self.event_id(),
            self.audio_ms,
            self.id,
            self.responses
        );
        self.feed(started).await?;
        self.end_response("cancelled").await?;
        self.shared
            .barge_in_sent
            .borrow_mut()
            .insert(self.id, self.shared.now_us());
        self.flush().await?;
        self.speaking_until = Some(now.wrapping_add(BARGE_IN_SPEECH.as_micros() as u32));
        Ok(())
    }

    /// Server VAD's end of the caller's turn; the next tick answers it.
    async fn caller_stopped(&mut self) -> Res {
        let item = format!("item_caller{}_{}", self.id, self.responses);
        let stopped = format!(
            r#"{{"type":"input_audio_buffer.speech_stopped","event_id":"{}","audio_end_ms":{},"item_id":"{item}"}}"#,
            self.event_id(),
            self.audio_ms
        );
        self.feed(stopped).await?;
        let committed = format!(
            r#"{{"type":"input_audio_buffer.committed","event_id":"{}","previous_item_id":null,"item_id":"{item}"}}"#,
            self.event_id()
        );
        self.feed(committed).await
    }
}
