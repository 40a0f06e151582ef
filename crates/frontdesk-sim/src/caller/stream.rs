//! One `<Connect><Stream>` session as Twilio runs it: a signed WebSocket
//! upgrade, `connected` + `start`, then 20 ms inbound `media` frames paced in
//! real time while the caller script runs, with outbound audio "played" by
//! [`Playback`] so marks and clears behave like on a real phone line.

use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::media::{self, Outbound, StreamIds};
use super::playback::Playback;
use super::twiml::StreamSpec;
use super::webhook::new_sid;
use super::{CallContext, CallerStep};
use crate::audio::{BYTES_PER_MS, MULAW_SILENCE};
use frontdesk_wire::twilio_signature::SIGNATURE_HEADER;

const FRAME_MS: u64 = 20;
const FRAME_BYTES: usize = FRAME_MS as usize * BYTES_PER_MS;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a stream session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamEnd {
    /// The engine closed (or lost) the socket: Twilio moves on to the Connect action.
    EngineClosed,
    /// The caller hung up: the call is over.
    CallerHungUp,
    /// The stream never came up: the call is over.
    Failed,
}

/// The script step currently in progress. Times are stream-clock ms.
#[derive(Debug)]
enum Active {
    Say {
        audio: Vec<u8>,
        position: usize,
        index: usize,
    },
    WaitForAudio {
        deadline: u64,
        pushed_at_start: u64,
        timeout_ms: u64,
    },
    WaitForSilence {
        started: u64,
        quiet_ms: u64,
        deadline: u64,
        timeout_ms: u64,
    },
    WaitForClose {
        deadline: u64,
        timeout_ms: u64,
    },
    Pause {
        until: u64,
    },
}

impl Active {
    fn describe(&self) -> String {
        match self {
            Self::Say {
                audio, position, ..
            } => format!(
                "Say at {} of {} ms",
                position / BYTES_PER_MS,
                audio.len() / BYTES_PER_MS
            ),
            Self::WaitForAudio { timeout_ms, .. } => format!("WaitForAudio ({timeout_ms} ms)"),
            Self::WaitForSilence { quiet_ms, .. } => {
                format!("WaitForSilence ({quiet_ms} ms quiet)")
            }
            Self::WaitForClose { timeout_ms, .. } => format!("WaitForClose ({timeout_ms} ms)"),
            Self::Pause { until } => format!("Pause until {until} ms"),
        }
    }
}

pub(super) async fn run(ctx: &mut CallContext, spec: StreamSpec) -> StreamEnd {
    let first_stream = ctx.report.stream_url.is_empty();
    if first_stream {
        ctx.report.stream_url = spec.url.clone();
        ctx.report.stream_params = spec.parameters.clone();
    }
    let Some(socket) = open(ctx, &spec).await else {
        ctx.log("stream failed: call ends");
        return StreamEnd::Failed;
    };
    let ids = StreamIds {
        stream_sid: new_sid("MZ"),
        account_sid: ctx.account_sid.clone(),
        call_sid: ctx.call_sid.clone(),
    };
    if first_stream {
        ctx.report.stream_sid = ids.stream_sid.clone();
    }
    let (sink, source) = socket.split();
    let mut session = Session {
        ctx,
        sink,
        source,
        ids,
        sequence: 0,
        chunk: 0,
        stream_start: Instant::now(),
        playback: Playback::new(),
        active: None,
        say_ended_at: None,
        pending_say: None,
    };
    let end = session.serve(&spec).await;
    session.ctx.stream_ended_at = Some(Instant::now());
    let heard = session.playback.heard().to_vec();
    session.ctx.report.heard.extend_from_slice(&heard);
    end
}

/// Opens the socket with Twilio's signed upgrade request; records a refusal.
async fn open(ctx: &mut CallContext, spec: &StreamSpec) -> Option<Socket> {
    let mut url = match url::Url::parse(&spec.url) {
        Ok(url) if matches!(url.scheme(), "ws" | "wss") => url,
        Ok(_) => {
            ctx.problem(format!("<Stream url> {} is not ws:// or wss://", spec.url));
            return None;
        }
        Err(e) => {
            ctx.problem(format!("<Stream url> {} is invalid: {e}", spec.url));
            return None;
        }
    };
    if url.query().is_some() {
        ctx.problem(format!(
            "<Stream url> {} has a query string, which Twilio strips; use <Parameter>",
            spec.url
        ));
        url.set_query(None);
    }
    let target = url.as_str().to_owned();
    let mut request = match target.as_str().into_client_request() {
        Ok(request) => request,
        Err(e) => {
            ctx.problem(format!(
                "cannot build the upgrade request for {target}: {e}"
            ));
            return None;
        }
    };
    if let Some(signature) = ctx.client.sign(&target, &[]) {
        match HeaderValue::from_str(&signature) {
            Ok(value) => {
                request.headers_mut().insert(SIGNATURE_HEADER, value);
            }
            Err(e) => ctx.problem(format!("unusable signature header: {e}")),
        }
    }
    request
        .headers_mut()
        .insert("User-Agent", HeaderValue::from_static("Twilio.TmeWs/1.0"));
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Ok(Ok((socket, _response))) => {
            ctx.log(format!("stream connected to {target}"));
            Some(socket)
        }
        Ok(Err(WsError::Http(response))) => {
            let status = response.status().as_u16();
            ctx.report.handshake_status = Some(status);
            ctx.log(format!("stream upgrade to {target} refused: HTTP {status}"));
            None
        }
        Ok(Err(e)) => {
            ctx.problem(format!("stream connection to {target} failed: {e}"));
            None
        }
        Err(_) => {
            ctx.problem(format!("stream upgrade to {target} timed out"));
            None
        }
    }
}

struct Session<'a> {
    ctx: &'a mut CallContext,
    sink: SplitSink<Socket, Message>,
    source: SplitStream<Socket>,
    ids: StreamIds,
    sequence: u64,
    chunk: u64,
    stream_start: Instant,
    playback: Playback,
    active: Option<Active>,
    say_ended_at: Option<Instant>,
    /// Index of the Say whose reply has not started yet.
    pending_say: Option<usize>,
}

/// Why the serving loop stops early.
enum Stop {
    Ended(StreamEnd),
    /// A send failed: the socket is going away; find out how.
    SendFailed(String),
}

impl Session<'_> {
    async fn serve(&mut self, spec: &StreamSpec) -> StreamEnd {
        match self.serve_inner(spec).await {
            Ok(()) => StreamEnd::EngineClosed,
            Err(Stop::Ended(end)) => end,
            Err(Stop::SendFailed(error)) => self.after_send_failure(error).await,
        }
    }

    async fn serve_inner(&mut self, spec: &StreamSpec) -> Result<(), Stop> {
        self.send_raw(media::connected()).await?;
        self.sequence += 1;
        let start = media::start(self.sequence, &self.ids, &spec.parameters);
        self.send_raw(start).await?;
        self.stream_start = Instant::now();
        self.ctx
            .log(format!("sent start ({})", self.ids.stream_sid));

        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::from_std(self.stream_start),
            Duration::from_millis(FRAME_MS),
        );
        // Burst catches up after a stall, so the frame clock never drifts from real time.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                incoming = self.source.next() => {
                    match incoming {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await?,
                        Some(Ok(Message::Binary(_))) => {
                            self.ctx.problem("binary WebSocket message; Twilio expects JSON text");
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            self.engine_closed(true).await;
                            return Ok(());
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            self.ctx.problem(format!("stream lost: {e}"));
                            self.engine_closed(false).await;
                            return Ok(());
                        }
                    }
                }
                _ = ticker.tick() => self.on_tick().await?,
            }
        }
    }

    fn stream_ms(&self) -> u64 {
        u64::try_from(self.stream_start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn send_raw(&mut self, text: String) -> Result<(), Stop> {
        self.sink
            .send(Message::text(text))
            .await
            .map_err(|e| Stop::SendFailed(e.to_string()))
    }

    async fn send_numbered(&mut self, build: impl FnOnce(u64) -> String) -> Result<(), Stop> {
        self.sequence += 1;
        let text = build(self.sequence);
        self.send_raw(text).await
    }

    /// Moves playback to the present and echoes the marks it reached.
    async fn catch_up_playback(&mut self) -> Result<(), Stop> {
        let target = self.stream_ms();
        let was_playing = self.playback.is_playing();
        let delta = target.saturating_sub(self.playback.now_ms());
        let echoed = self.playback.advance(delta);
        if was_playing && !self.playback.is_playing() {
            self.ctx.log("engine audio played out");
        }
        for name in echoed {
            self.echo_mark(name).await?;
        }
        Ok(())
    }

    async fn echo_mark(&mut self, name: String) -> Result<(), Stop> {
        let stream_sid = self.ids.stream_sid.clone();
        self.send_numbered(|seq| media::mark_echo(seq, &stream_sid, &name))
            .await?;
        self.ctx.log(format!("mark {name} echoed"));
        self.ctx.report.marks_echoed.push(name);
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Stop> {
        self.catch_up_playback().await?;
        let message = match media::parse_outbound(text) {
            Ok(message) => message,
            Err(problem) => {
                self.ctx.problem(problem);
                return Ok(());
            }
        };
        let stream_sid = match &message {
            Outbound::Media { stream_sid, .. }
            | Outbound::Mark { stream_sid, .. }
            | Outbound::Clear { stream_sid } => stream_sid,
        };
        if *stream_sid != self.ids.stream_sid {
            let problem = format!("message for unknown streamSid {stream_sid} ignored");
            self.ctx.problem(problem);
            return Ok(());
        }
        match message {
            Outbound::Media { audio, .. } => self.on_media(&audio),
            Outbound::Mark { name, .. } => {
                self.ctx.report.marks_received.push(name.clone());
                if let Some(name) = self.playback.push_mark(name) {
                    self.echo_mark(name).await?;
                }
            }
            Outbound::Clear { .. } => {
                let at = self.ctx.clock();
                self.ctx.report.clears.push(at);
                let cleared = self.playback.clear();
                self.ctx.log(format!(
                    "clear (dropped {} ms, {} mark(s) echoed)",
                    cleared.dropped_bytes / BYTES_PER_MS,
                    cleared.echoed.len()
                ));
                for name in cleared.echoed {
                    self.echo_mark(name).await?;
                }
            }
        }
        Ok(())
    }

    fn on_media(&mut self, audio: &[u8]) {
        if self.ctx.report.greeting_latency.is_none() {
            self.ctx.report.greeting_latency = Some(self.stream_start.elapsed());
        }
        if let Some(ended) = self.ctx.stream_ended_at.take() {
            // The first audio on a stream that replaced a closed one.
            self.ctx.report.stream_gaps.push(ended.elapsed());
        }
        if let (Some(index), Some(ended)) = (self.pending_say.take(), self.say_ended_at) {
            if let Some(slot) = self.ctx.report.first_audio_after_say.get_mut(index) {
                *slot = Some(ended.elapsed());
            }
        }
        self.ctx.report.received_media_bytes += audio.len();
        if !self.playback.is_playing() && !audio.is_empty() {
            self.ctx.log("heard audio");
        }
        self.playback.push_media(audio);
    }

    async fn on_tick(&mut self) -> Result<(), Stop> {
        self.catch_up_playback().await?;
        let frame = self.next_frame();
        self.chunk += 1;
        let (chunk, timestamp) = (self.chunk, (self.chunk - 1) * FRAME_MS);
        let stream_sid = self.ids.stream_sid.clone();
        self.send_numbered(|seq| media::media(seq, &stream_sid, chunk, timestamp, &frame))
            .await?;
        if self.ctx.past_max_duration() {
            self.ctx.log("max call duration reached");
            return Err(self.hang_up().await);
        }
        self.run_steps().await
    }

    /// The next 20 ms of caller audio: the current Say, else silence.
    fn next_frame(&mut self) -> Vec<u8> {
        let mut frame = vec![MULAW_SILENCE; FRAME_BYTES];
        if let Some(Active::Say {
            audio, position, ..
        }) = &mut self.active
        {
            let take = (audio.len() - *position).min(FRAME_BYTES);
            frame[..take].copy_from_slice(&audio[*position..*position + take]);
            *position += take;
        }
        frame
    }

    /// Starts and completes script steps until one has to wait.
    async fn run_steps(&mut self) -> Result<(), Stop> {
        loop {
            if self.active.is_none() {
                let Some(step) = self.ctx.steps.pop_front() else {
                    self.ctx.log("script finished: caller hangs up");
                    return Err(self.hang_up().await);
                };
                self.start_step(step).await?;
                continue;
            }
            if !self.finish_active_if_done() {
                return Ok(());
            }
        }
    }

    async fn start_step(&mut self, step: CallerStep) -> Result<(), Stop> {
        let now = self.stream_ms();
        match step {
            CallerStep::Say { label, audio } => {
                let index = self.ctx.report.first_audio_after_say.len();
                self.ctx.report.first_audio_after_say.push(None);
                self.ctx.log(format!(
                    "caller says {label:?} ({} ms)",
                    audio.len() / BYTES_PER_MS
                ));
                self.active = Some(Active::Say {
                    audio,
                    position: 0,
                    index,
                });
            }
            CallerStep::WaitForAudio { timeout_ms } => {
                self.active = Some(Active::WaitForAudio {
                    deadline: now.saturating_add(timeout_ms),
                    pushed_at_start: self.playback.pushed_bytes(),
                    timeout_ms,
                });
            }
            CallerStep::WaitForSilence {
                quiet_ms,
                timeout_ms,
            } => {
                self.active = Some(Active::WaitForSilence {
                    started: self.playback.now_ms(),
                    quiet_ms,
                    deadline: now.saturating_add(timeout_ms),
                    timeout_ms,
                });
            }
            CallerStep::WaitForClose { timeout_ms } => {
                self.active = Some(Active::WaitForClose {
                    deadline: now.saturating_add(timeout_ms),
                    timeout_ms,
                });
            }
            CallerStep::Pause { ms } => {
                self.active = Some(Active::Pause {
                    until: now.saturating_add(ms),
                });
            }
            CallerStep::Dtmf { digit } => {
                let stream_sid = self.ids.stream_sid.clone();
                self.send_numbered(|seq| media::dtmf(seq, &stream_sid, digit))
                    .await?;
                self.ctx.log(format!("caller presses {digit}"));
            }
            CallerStep::HangUp => {
                self.ctx.log("caller hangs up");
                return Err(self.hang_up().await);
            }
        }
        Ok(())
    }

    /// Clears the active step if it is complete (or timed out); true if it was.
    fn finish_active_if_done(&mut self) -> bool {
        let now = self.stream_ms();
        let Some(active) = &self.active else {
            return true;
        };
        let (done, timed_out) = match active {
            Active::Say {
                audio,
                position,
                index,
            } => {
                if *position >= audio.len() {
                    self.ctx.log("caller stops speaking");
                    self.say_ended_at = Some(Instant::now());
                    self.pending_say = Some(*index);
                    (true, None)
                } else {
                    (false, None)
                }
            }
            Active::WaitForAudio {
                deadline,
                pushed_at_start,
                timeout_ms,
            } => {
                if self.playback.is_playing() || self.playback.pushed_bytes() > *pushed_at_start {
                    (true, None)
                } else {
                    (
                        now >= *deadline,
                        Some(format!("WaitForAudio ({timeout_ms} ms)")),
                    )
                }
            }
            Active::WaitForSilence {
                started,
                quiet_ms,
                deadline,
                timeout_ms,
            } => {
                let quiet_since = self
                    .playback
                    .last_drained_ms()
                    .filter(|drained| *drained >= *started && !self.playback.is_playing());
                match quiet_since {
                    Some(drained)
                        if self.playback.now_ms().saturating_sub(drained) >= *quiet_ms =>
                    {
                        (true, None)
                    }
                    _ => (
                        now >= *deadline,
                        Some(format!(
                            "WaitForSilence ({quiet_ms} ms quiet, {timeout_ms} ms)"
                        )),
                    ),
                }
            }
            Active::WaitForClose {
                deadline,
                timeout_ms,
            } => (
                now >= *deadline,
                Some(format!("WaitForClose ({timeout_ms} ms)")),
            ),
            Active::Pause { until } => (now >= *until, None),
        };
        if !done {
            return false;
        }
        if let Some(what) = timed_out {
            self.ctx.log(format!("timed out: {what}"));
            self.ctx.report.step_timeouts.push(what);
        }
        self.active = None;
        true
    }

    /// Sends `stop` and closes the socket, as Twilio does when the caller hangs up.
    async fn hang_up(&mut self) -> Stop {
        self.ctx.report.hung_up_by_caller = true;
        let ids = self.ids.clone();
        if let Err(Stop::SendFailed(error)) = self.send_numbered(|seq| media::stop(seq, &ids)).await
        {
            self.ctx.log(format!("could not send stop: {error}"));
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.close()).await;
        // Wait for the engine's close reply so it sees an orderly shutdown.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(message)) = self.source.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        self.ctx.log("sent stop; stream closed by caller");
        Stop::Ended(StreamEnd::CallerHungUp)
    }

    async fn engine_closed(&mut self, clean: bool) {
        let _ = self.catch_up_playback().await;
        let unplayed = self.playback.queued_ms();
        self.ctx.report.unplayed_at_close_ms += unplayed;
        if clean {
            self.ctx.report.closed_by_engine = true;
        }
        let interrupted = match self.active.take() {
            Some(Active::WaitForClose { .. }) | None => None,
            Some(other) => Some(other.describe()),
        };
        self.ctx.log(if unplayed > 0 {
            format!("engine closed the stream ({unplayed} ms of its audio unplayed)")
        } else {
            "engine closed the stream".to_owned()
        });
        if let Some(step) = interrupted {
            self.ctx
                .log(format!("step interrupted by the close: {step}"));
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.close()).await;
    }

    /// After a failed send, the read side tells whether the engine closed.
    async fn after_send_failure(&mut self, error: String) -> StreamEnd {
        let outcome = tokio::time::timeout(CLOSE_TIMEOUT, async {
            loop {
                match self.source.next().await {
                    Some(Ok(Message::Close(_))) | None => return true,
                    Some(Ok(_)) => {}
                    Some(Err(_)) => return false,
                }
            }
        })
        .await;
        if outcome != Ok(true) {
            self.ctx
                .problem(format!("stream lost while sending: {error}"));
        }
        self.engine_closed(outcome == Ok(true)).await;
        StreamEnd::EngineClosed
    }
}
