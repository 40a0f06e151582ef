//! The Twilio side of one simulated call: the signed `/twilio/voice`
//! webhook, the signed Media Streams upgrade, `connected` + `start`, then a
//! 20 ms `media` frame every 20 ms in real time. Outbound audio is "played"
//! at real time and each `mark` is echoed when the audio before it has
//! played, as Twilio does; a `clear` echoes every pending mark at once.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use frontdesk_wire::twilio_signature::{self as signature, Algorithm, SIGNATURE_HEADER};

use super::frame::{payload_ms, str_field, FrameId, FRAME_MS};
use super::shared::Shared;

const TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_WAIT: Duration = Duration::from_secs(2);
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// A call counts as streaming once this many model frames reached it.
const STREAMING_AFTER_FRAMES: u32 = 25;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how calls are placed.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// Where requests go (`http://127.0.0.1:8080`).
    pub engine: url::Url,
    /// The engine's PUBLIC_URL, which signatures cover.
    pub public_url: String,
    pub auth_token: String,
    /// Between the webhook answer and the stream upgrade (Twilio takes a
    /// moment; the engine pre-warms the model meanwhile).
    pub stream_delay: Duration,
    /// Distinguishes this run's CallSids from an earlier run's.
    pub run_tag: u64,
}

/// Places call `index` and serves its stream until hang-up.
pub async fn run_call(
    shared: Rc<Shared>,
    http: reqwest::Client,
    cfg: Rc<CallerConfig>,
    index: u32,
) {
    shared.live_calls.set(shared.live_calls.get() + 1);
    if let Err(reason) = place(&shared, &http, &cfg, index).await {
        shared.stats.borrow_mut().fail(reason);
    }
    shared
        .live_calls
        .set(shared.live_calls.get().saturating_sub(1));
}

struct Ids {
    index: u32,
    call_sid: String,
    stream_sid: String,
    from: String,
    to: String,
    /// The `<Parameter name="token">` of the TwiML, given back in `start`
    /// as Twilio does with every parameter.
    token: String,
}

async fn place(
    shared: &Shared,
    http: &reqwest::Client,
    cfg: &CallerConfig,
    index: u32,
) -> Result<(), String> {
    let ids = Ids {
        index,
        call_sid: format!("CA{:016x}{:016x}", cfg.run_tag, index),
        stream_sid: format!("MZ{:016x}{:016x}", cfg.run_tag, index),
        from: format!("+1555{:07}", index % 10_000_000),
        to: "+15551230000".into(),
        token: String::new(),
    };
    let twiml = webhook(http, cfg, &ids).await?;
    let ids = Ids {
        token: stream_parameter(&twiml, "token").unwrap_or_default(),
        ..ids
    };
    let stream_url = stream_url(&twiml)
        .ok_or_else(|| format!("no <Stream url> in the webhook answer: {twiml:.200}"))?;
    tokio::time::sleep(cfg.stream_delay).await;
    let socket = open(cfg, &stream_url).await?;
    shared.stats.borrow_mut().calls_established += 1;
    Stream::new(shared, socket, ids).serve().await
}

async fn webhook(http: &reqwest::Client, cfg: &CallerConfig, ids: &Ids) -> Result<String, String> {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", ids.call_sid.as_str()),
        ("CallStatus", "ringing"),
        ("Called", ids.to.as_str()),
        ("Caller", ids.from.as_str()),
        ("Direction", "inbound"),
        ("From", ids.from.as_str()),
        ("To", ids.to.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    let signed_url = format!("{}/twilio/voice", cfg.public_url.trim_end_matches('/'));
    let sig = signature::compute(&cfg.auth_token, &signed_url, &params, Algorithm::HmacSha1);
    let target = cfg
        .engine
        .join("/twilio/voice")
        .map_err(|e| format!("engine URL: {e}"))?;
    let resp = http
        .post(target)
        .header(SIGNATURE_HEADER, sig)
        .form(&params)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("webhook failed: {e}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| format!("webhook body: {e}"))?;
    if !status.is_success() {
        return Err(format!("webhook answered HTTP {status}: {body:.200}"));
    }
    Ok(body)
}

/// The value of the TwiML's `<Parameter name="…">`.
pub fn stream_parameter(twiml: &str, name: &str) -> Option<String> {
    let at = twiml.find(&format!(r#"<Parameter name="{name}" value=""#))?;
    let rest = &twiml[at + name.len() + 26..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// The `url` of the TwiML's `<Stream>`.
pub fn stream_url(twiml: &str) -> Option<String> {
    let tag = &twiml[twiml.find("<Stream")?..];
    let tag = &tag[..tag.find('>')?];
    let start = tag.find("url=\"")? + 5;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].replace("&amp;", "&"))
}

/// Upgrades to the stream, signed over the URL the TwiML named; the socket
/// itself goes to `cfg.engine` (which differs when the public URL is a proxy).
async fn open(cfg: &CallerConfig, stream_url: &str) -> Result<Socket, String> {
    let mut target =
        url::Url::parse(stream_url).map_err(|e| format!("<Stream url> {stream_url}: {e}"))?;
    let ws_scheme = if cfg.engine.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    target
        .set_scheme(ws_scheme)
        .map_err(|_| "cannot set the stream scheme".to_string())?;
    target
        .set_host(cfg.engine.host_str())
        .map_err(|e| format!("engine host: {e}"))?;
    target
        .set_port(cfg.engine.port_or_known_default())
        .map_err(|_| "engine port".to_string())?;
    let mut request = target
        .as_str()
        .into_client_request()
        .map_err(|e| format!("upgrade request: {e}"))?;
    let sig = signature::compute(&cfg.auth_token, stream_url, &[], Algorithm::HmacSha1);
    let value = HeaderValue::from_str(&sig).map_err(|e| format!("signature header: {e}"))?;
    request.headers_mut().insert(SIGNATURE_HEADER, value);
    request
        .headers_mut()
        .insert("User-Agent", HeaderValue::from_static("Twilio.TmeWs/1.0"));
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    match tokio::time::timeout(
        TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(format!("stream upgrade failed: {e}")),
        Err(_) => Err("stream upgrade timed out".into()),
    }
}

struct Stream<'a> {
    shared: &'a Shared,
    socket: Socket,
    ids: Ids,
    /// Twilio's `sequenceNumber` over all our messages.
    sequence: u64,
    /// Our audio frames (`chunk`, and the frame id's seq).
    chunk: u32,
    start_sent_us: u32,
    heard_frames: u32,
    /// The model connection feeding this call, learned from frame ids.
    model_conn: Option<u32>,
    last_model_seq: Option<u32>,
    /// When what was sent so far will have played.
    play_until_us: u32,
    marks: VecDeque<(u32, String)>,
    out: String,
}

enum End {
    HungUp,
    EngineClosed(String),
}

impl<'a> Stream<'a> {
    fn new(shared: &'a Shared, socket: Socket, ids: Ids) -> Self {
        Stream {
            shared,
            socket,
            ids,
            sequence: 0,
            chunk: 0,
            start_sent_us: 0,
            heard_frames: 0,
            model_conn: None,
            last_model_seq: None,
            play_until_us: 0,
            marks: VecDeque::new(),
            out: String::with_capacity(512),
        }
    }

    async fn serve(mut self) -> Result<(), String> {
        let end = self.serve_inner().await;
        if self.heard_frames >= STREAMING_AFTER_FRAMES {
            self.shared
                .streaming_calls
                .set(self.shared.streaming_calls.get().saturating_sub(1));
        }
        match end {
            Ok(End::HungUp) => Ok(()),
            Ok(End::EngineClosed(why)) | Err(why) => {
                if !self.shared.hang_up.get() {
                    let mut st = self.shared.stats.borrow_mut();
                    st.calls_dropped += 1;
                    if st.failures.len() < 10 {
                        st.failures.push(format!("call dropped: {why}"));
                    }
                }
                Ok(())
            }
        }
    }

    async fn serve_inner(&mut self) -> Result<End, String> {
        let connected = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
        self.socket
            .feed(Message::text(connected))
            .await
            .map_err(|e| e.to_string())?;
        self.sequence += 1;
        let start = format!(
            r#"{{"event":"start","sequenceNumber":"{seq}","start":{{"accountSid":"{acct}","streamSid":"{ss}","callSid":"{cs}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"from":"{from}","to":"{to}","token":"{token}"}}}},"streamSid":"{ss}"}}"#,
            token = self.ids.token,
            seq = self.sequence,
            acct = ACCOUNT_SID,
            ss = self.ids.stream_sid,
            cs = self.ids.call_sid,
            from = self.ids.from,
            to = self.ids.to,
        );
        self.socket
            .feed(Message::text(start))
            .await
            .map_err(|e| e.to_string())?;
        self.socket.flush().await.map_err(|e| e.to_string())?;
        self.start_sent_us = self.shared.now_us();
        let period = Duration::from_millis(FRAME_MS);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + random_phase(), period);
        // Real time: a late tick is caught up, as a phone line keeps sending.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                incoming = self.socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await?,
                    Some(Ok(Message::Close(frame))) => {
                        return Ok(End::EngineClosed(format!("engine closed the stream ({frame:?})")));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ok(End::EngineClosed(format!("stream error: {e}"))),
                    None => return Ok(End::EngineClosed("stream ended".into())),
                },
                scheduled = ticker.tick() => {
                    let late = tokio::time::Instant::now().saturating_duration_since(scheduled);
                    if self.shared.hang_up.get() {
                        self.hang_up().await;
                        return Ok(End::HungUp);
                    }
                    self.on_tick(late).await?;
                }
            }
        }
    }

    async fn on_tick(&mut self, late: Duration) -> Result<(), String> {
        let now = self.shared.now_us();
        if self.shared.in_window(now) {
            self.shared
                .stats
                .borrow_mut()
                .tick_lateness
                .push(late.as_micros() as u32);
        }
        self.echo_due_marks(now).await?;
        self.sequence += 1;
        self.chunk += 1;
        let id = FrameId {
            conn: self.ids.index,
            seq: self.chunk,
            sent_us: now,
        };
        self.out.clear();
        let _ = write!(
            self.out,
            r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":""#,
            self.sequence,
            self.chunk,
            u64::from(self.chunk - 1) * FRAME_MS
        );
        self.shared.caller_audio.push(id, &mut self.out);
        self.out.push_str(r#""},"streamSid":""#);
        self.out.push_str(&self.ids.stream_sid);
        self.out.push_str("\"}");
        self.socket
            .feed(Message::text(self.out.clone()))
            .await
            .map_err(|e| e.to_string())?;
        if self.shared.in_window(now) {
            self.shared.stats.borrow_mut().to_model.sent += 1;
        }
        self.socket.flush().await.map_err(|e| e.to_string())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), String> {
        match str_field(text, "event") {
            Some("media") => {
                if let Some(payload) = str_field(text, "payload") {
                    self.on_media(payload);
                }
                Ok(())
            }
            Some("mark") => {
                if let Some(name) = str_field(text, "name") {
                    self.marks.push_back((self.play_until_us, name.to_string()));
                }
                let now = self.shared.now_us();
                if self.echo_due_marks(now).await? > 0 {
                    self.socket.flush().await.map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Some("clear") => self.on_clear().await,
            _ => Ok(()),
        }
    }

    fn on_media(&mut self, payload: &str) {
        let now = self.shared.now_us();
        let mut st = self.shared.stats.borrow_mut();
        if self.heard_frames == 0 {
            st.greeting.push(now.wrapping_sub(self.start_sent_us));
        }
        self.heard_frames += 1;
        if self.heard_frames == STREAMING_AFTER_FRAMES {
            self.shared
                .streaming_calls
                .set(self.shared.streaming_calls.get() + 1);
        }
        let ms = payload_ms(payload) as u32;
        self.play_until_us = later(self.play_until_us, now).wrapping_add(ms * 1000);
        let Some(id) = FrameId::read(payload) else {
            return;
        };
        self.shared.set_played_until(id.conn, self.play_until_us);
        if self.model_conn != Some(id.conn) {
            self.model_conn = Some(id.conn);
            self.last_model_seq = None;
        }
        let in_window = self.shared.in_window(id.sent_us);
        if let Some(last) = self.last_model_seq {
            if in_window && id.seq > last.wrapping_add(1) {
                st.to_caller.gaps += u64::from(id.seq - last - 1);
            }
        }
        self.last_model_seq = Some(id.seq);
        if in_window {
            st.to_caller.received += 1;
            st.to_caller.latency.push(now.wrapping_sub(id.sent_us));
        }
    }

    async fn on_clear(&mut self) -> Result<(), String> {
        let now = self.shared.now_us();
        if let Some(conn) = self.model_conn {
            if let Some(sent) = self.shared.barge_in_sent.borrow_mut().remove(&conn) {
                self.shared
                    .stats
                    .borrow_mut()
                    .clear
                    .push(now.wrapping_sub(sent));
            }
        }
        // Twilio echoes every pending mark at once after a clear.
        while let Some((_, name)) = self.marks.pop_front() {
            self.feed_mark(&name).await?;
        }
        self.play_until_us = now;
        self.socket.flush().await.map_err(|e| e.to_string())
    }

    /// Feeds (does not flush) echoes of the marks whose audio has played.
    async fn echo_due_marks(&mut self, now: u32) -> Result<usize, String> {
        let mut echoed = 0;
        while let Some((due, _)) = self.marks.front() {
            if later(*due, now) != now {
                break;
            }
            if let Some((_, name)) = self.marks.pop_front() {
                self.feed_mark(&name).await?;
                echoed += 1;
            }
        }
        Ok(echoed)
    }

    async fn feed_mark(&mut self, name: &str) -> Result<(), String> {
        self.sequence += 1;
        let text = format!(
            r#"{{"event":"mark","sequenceNumber":"{}","streamSid":"{}","mark":{{"name":"{}"}}}}"#,
            self.sequence, self.ids.stream_sid, name
        );
        self.socket
            .feed(Message::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    async fn hang_up(&mut self) {
        self.sequence += 1;
        let stop = format!(
            r#"{{"event":"stop","sequenceNumber":"{}","stop":{{"accountSid":"{}","callSid":"{}"}},"streamSid":"{}"}}"#,
            self.sequence, ACCOUNT_SID, self.ids.call_sid, self.ids.stream_sid
        );
        let _ = self.socket.send(Message::text(stop)).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.close(None)).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(m)) = self.socket.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A random offset within one frame: real calls' 20 ms clocks are not in
/// step, and calls placed at a regular ramp interval would otherwise tick
/// together in a few large bursts.
pub fn random_phase() -> Duration {
    Duration::from_micros(rand::random_range(0..FRAME_MS * 1000))
}

/// The later of two run-clock times (runs are far shorter than the 71-minute wrap).
fn later(a: u32, b: u32) -> u32 {
    if a.wrapping_sub(b) < u32::MAX / 2 {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_stream_url_in_twiml() {
        let twiml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="http://h/twilio/after-stream" method="POST"><Stream url="ws://127.0.0.1:8080/twilio/stream?a=1&amp;b=2"><Parameter name="from" value="+1"/></Stream></Connect></Response>"#;
        assert_eq!(
            stream_url(twiml).as_deref(),
            Some("ws://127.0.0.1:8080/twilio/stream?a=1&b=2")
        );
        assert_eq!(stream_url("<Response><Say>hi</Say></Response>"), None);
    }

    #[test]
    fn finds_a_stream_parameter_in_twiml() {
        let twiml = r#"<Stream url="wss://x"><Parameter name="from" value="+1" /><Parameter name="token" value="a-b_c&amp;d" /></Stream>"#;
        assert_eq!(stream_parameter(twiml, "token").as_deref(), Some("a-b_c&d"));
        assert_eq!(stream_parameter(twiml, "from").as_deref(), Some("+1"));
        assert_eq!(stream_parameter(twiml, "tenant"), None);
    }

    #[test]
    fn later_handles_equal_and_ordered_times() {
        assert_eq!(later(5, 3), 5);
        assert_eq!(later(3, 5), 5);
        assert_eq!(later(4, 4), 4);
    }
}
