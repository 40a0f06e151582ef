//! A simulated caller that behaves like Twilio on an inbound call: it posts the
//! voice webhook, runs the returned TwiML, serves `<Connect><Stream>` as a
//! real-time Media Streams client (with Twilio's playback, mark and clear
//! semantics), then follows whatever TwiML the engine hands back
//! (`<Gather>`, `<Record>`, `<Dial>`, `<Redirect>`, …).
//!
//! Everything observable goes into a [`CallReport`] so end-to-end tests can
//! assert on latency, barge-in, marks and call routing.

mod flow;
pub mod media;
pub mod playback;
mod stream;
#[cfg(test)]
mod test_engine;
pub mod twiml;
mod webhook;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use playback::{Cleared, Playback};
pub use twiml::{TwimlError, Verb};
pub use webhook::new_sid;

/// Something the caller does on the line, in script order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerStep {
    /// Speak: stream this mu-law 8 kHz audio in real time (blocks until sent).
    Say { label: String, audio: Vec<u8> },
    /// Wait until engine audio is playing (or has been queued since the step began).
    WaitForAudio { timeout_ms: u64 },
    /// Wait until engine audio has played since the step began and then
    /// nothing has played for `quiet_ms`.
    WaitForSilence { quiet_ms: u64, timeout_ms: u64 },
    /// Wait until the engine closes the stream.
    WaitForClose { timeout_ms: u64 },
    /// Stay silent for `ms`.
    Pause { ms: u64 },
    /// Press a key (`0-9`, `*`, `#`).
    Dtmf { digit: char },
    /// Hang up: send `stop` and close the socket.
    HangUp,
}

/// Answer to one `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuInput {
    Digits(String),
    Speech(String),
    /// The caller hangs up at this `<Gather>`: Twilio requests nothing more.
    HangUp,
}

/// What a `<Record>` captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingOutcome {
    pub recording_sid: String,
    /// Without extension, as Twilio sends `RecordingUrl`.
    pub recording_url: String,
    pub duration_secs: u32,
}

/// The whole call, scripted.
#[derive(Debug, Clone)]
pub struct CallerScript {
    pub from: String,
    pub to: String,
    pub account_sid: String,
    /// Generated as `CA` + 32 hex when `None`.
    pub call_sid: Option<String>,
    /// When set, every webhook and the WebSocket handshake are signed.
    pub auth_token: Option<String>,
    pub steps: Vec<CallerStep>,
    /// Answers to successive `<Gather>`s; none left means no input.
    pub menu_input: Vec<MenuInput>,
    /// `DialCallStatus` reported for a `<Dial>`: `completed`, `busy`, `no-answer`, …
    pub dial_status: String,
    /// `DialCallDuration` when the dial was answered (`completed`/`answered`).
    pub dial_duration_secs: u32,
    /// `None`: the caller hangs up at the beep without leaving a message, so
    /// Twilio requests no `<Record>` action.
    pub recording: Option<RecordingOutcome>,
    /// Safety stop: the caller hangs up once the call has lasted this long.
    pub max_duration: Duration,
    /// The number's "call status changes" webhook (absolute, or a path on
    /// the engine): when set, Twilio posts the `completed` status callback
    /// there once the call is over, however it ended.
    pub status_callback: Option<String>,
}

/// Default account SID, for tests that do not care.
pub const DEFAULT_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

impl CallerScript {
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            call_sid: None,
            auth_token: None,
            steps: Vec::new(),
            menu_input: Vec::new(),
            dial_status: "completed".to_owned(),
            dial_duration_secs: 30,
            recording: None,
            max_duration: Duration::from_secs(60),
            status_callback: None,
        }
    }
}

/// One request Twilio made after the voice webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followup {
    pub url: String,
    pub params: Vec<(String, String)>,
    /// HTTP status; 0 when the request failed without a response.
    pub status: u16,
    /// The response body (TwiML for verb callbacks).
    pub twiml: String,
}

/// Everything the caller observed. Times on the "call clock" count from the
/// moment the voice webhook was sent.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    pub call_sid: String,
    /// `streamSid` of the first stream.
    pub stream_sid: String,
    pub voice_twiml: String,
    /// URL of the first `<Stream>`, as written in the TwiML.
    pub stream_url: String,
    pub stream_params: Vec<(String, String)>,
    /// HTTP status if the WebSocket upgrade was refused.
    pub handshake_status: Option<u16>,
    /// From sending `start` to receiving the first outbound media.
    pub greeting_latency: Option<Duration>,
    /// Outbound mu-law actually played (cleared and unplayed audio excluded).
    pub heard: Vec<u8>,
    pub received_media_bytes: usize,
    /// Marks the engine sent, in order.
    pub marks_received: Vec<String>,
    /// Marks echoed back (played or cleared), in order.
    pub marks_echoed: Vec<String>,
    /// Call-clock times at which a `clear` arrived.
    pub clears: Vec<Duration>,
    /// Per stream after the first: from the previous stream's close to the
    /// first engine audio on the new one — the caller's silence across a
    /// reconnect (a transfer back, or a failover).
    pub stream_gaps: Vec<Duration>,
    /// Per `Say` step: end of the caller's speech -> first outbound media after it.
    pub first_audio_after_say: Vec<Option<Duration>>,
    pub followups: Vec<Followup>,
    pub closed_by_engine: bool,
    /// The caller (script end, `HangUp` or `max_duration`) ended the call on the stream.
    pub hung_up_by_caller: bool,
    /// Queued engine audio dropped because the engine closed the stream before it played.
    pub unplayed_at_close_ms: u64,
    /// Wait steps that timed out (the script's expectations that were not met).
    pub step_timeouts: Vec<String>,
    /// What Twilio would flag in its debugger: malformed messages, unknown
    /// streamSid, failing webhooks, hop limit…
    pub problems: Vec<String>,
    /// Human-readable log on the call clock.
    pub timeline: Vec<(Duration, String)>,
}

impl CallReport {
    /// The timeline as text, one event per line, for test failure messages.
    pub fn timeline_text(&self) -> String {
        self.timeline
            .iter()
            .map(|(at, event)| format!("{:>8.3}s {event}", at.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a call could not be placed at all.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid caller script: {0}")]
    InvalidScript(String),
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("voice webhook {url} answered HTTP {status}: {body}")]
    WebhookStatus {
        url: String,
        status: u16,
        body: String,
    },
    #[error("TwiML from {url} is invalid: {source}")]
    Twiml {
        url: String,
        #[source]
        source: TwimlError,
    },
}

/// Caller state shared by the TwiML interpreter and the stream session.
pub(crate) struct CallContext {
    pub account_sid: String,
    pub call_sid: String,
    pub from: String,
    pub to: String,
    pub steps: VecDeque<CallerStep>,
    pub menu_input: VecDeque<MenuInput>,
    pub dial_status: String,
    pub dial_duration_secs: u32,
    pub recording: Option<RecordingOutcome>,
    pub max_duration: Duration,
    pub client: webhook::WebhookClient,
    pub call_start: Instant,
    /// When the last stream closed, until audio plays on the next one.
    pub stream_ended_at: Option<Instant>,
    pub report: CallReport,
}

impl CallContext {
    /// Time on the call clock.
    pub fn clock(&self) -> Duration {
        self.call_start.elapsed()
    }

    pub fn log(&mut self, event: impl Into<String>) {
        let at = self.clock();
        self.report.timeline.push((at, event.into()));
    }

    pub fn problem(&mut self, problem: impl Into<String>) {
        let problem = problem.into();
        self.log(format!("PROBLEM: {problem}"));
        self.report.problems.push(problem);
    }

    pub fn past_max_duration(&self) -> bool {
        self.clock() >= self.max_duration
    }

    /// Parameters Twilio sends on every voice request.
    pub fn core_params(&self, call_status: &str) -> Vec<(String, String)> {
        [
            ("CallSid", self.call_sid.as_str()),
            ("AccountSid", self.account_sid.as_str()),
            ("From", self.from.as_str()),
            ("To", self.to.as_str()),
            ("CallStatus", call_status),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
            ("Caller", self.from.as_str()),
            ("Called", self.to.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }
}

fn validate(script: &CallerScript) -> Result<(), SimError> {
    for step in &script.steps {
        if let CallerStep::Dtmf { digit } = step {
            if !matches!(digit, '0'..='9' | '*' | '#') {
                return Err(SimError::InvalidScript(format!(
                    "DTMF digit {digit:?} is not one of 0-9, * or #"
                )));
            }
        }
    }
    if script.from.is_empty() || script.to.is_empty() {
        return Err(SimError::InvalidScript("From and To are required".into()));
    }
    Ok(())
}

/// Places an inbound call to the engine at `engine_base_url` (e.g.
/// `http://127.0.0.1:8080`) and plays `script` as the caller.
///
/// Only failures before the call is up (bad script, unreachable or refusing
/// voice webhook, invalid TwiML) are errors; everything after is recorded in
/// the report so a test can see how far the call got.
pub async fn place_call(
    engine_base_url: &str,
    script: CallerScript,
) -> Result<CallReport, SimError> {
    validate(&script)?;
    let call_sid = script.call_sid.clone().unwrap_or_else(|| new_sid("CA"));
    let mut ctx = CallContext {
        account_sid: script.account_sid,
        call_sid: call_sid.clone(),
        from: script.from,
        to: script.to,
        steps: script.steps.into(),
        menu_input: script.menu_input.into(),
        dial_status: script.dial_status,
        dial_duration_secs: script.dial_duration_secs,
        recording: script.recording,
        max_duration: script.max_duration,
        client: webhook::WebhookClient::new(script.auth_token)?,
        call_start: Instant::now(),
        stream_ended_at: None,
        report: CallReport {
            call_sid,
            ..CallReport::default()
        },
    };

    let voice_url = format!("{}/twilio/voice", engine_base_url.trim_end_matches('/'));
    let params = ctx.core_params("ringing");
    let reply = ctx
        .client
        .request(twiml::CallbackMethod::Post, &voice_url, &params)
        .await?;
    ctx.log(format!(
        "POST {} -> {} {}",
        flow::short_url(&voice_url),
        reply.status,
        flow::summary(&reply.body)
    ));
    if !(200..300).contains(&reply.status) {
        return Err(SimError::WebhookStatus {
            url: voice_url,
            status: reply.status,
            body: reply.body,
        });
    }
    let verbs = twiml::parse(&reply.body).map_err(|source| SimError::Twiml {
        url: voice_url.clone(),
        source,
    })?;
    ctx.report.voice_twiml = reply.body;
    flow::run(&mut ctx, voice_url.clone(), verbs).await;
    if let Some(callback) = &script.status_callback {
        flow::status_callback(&mut ctx, &voice_url, callback).await;
    }
    if !ctx.steps.is_empty() {
        let left = ctx.steps.len();
        ctx.log(format!("call over with {left} script step(s) not run"));
    }
    Ok(ctx.report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use futures_util::SinkExt;
    use serde_json::{json, Value};
    use tokio::time::Instant;

    use super::test_engine::{self, recv, send, EngineSocket};
    use super::*;
    use crate::audio;
    use frontdesk_wire::twilio_signature::{compute, Algorithm};

    const TOKEN: &str = "test-auth-token";

    const VOICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="/twilio/after-stream"><Stream url="{ws}"><Parameter name="tenant" value="acme" /><Parameter name="callerId" value="+15551230000" /></Stream></Connect></Response>"#;
    const MENU: &str = r#"<Response><Gather action="/twilio/menu" numDigits="1"><Say>Press 2 for sales.</Say></Gather><Say>Goodbye.</Say><Hangup/></Response>"#;
    const DIAL: &str = r#"<Response><Dial action="/twilio/dial-done" timeout="20"><Number>+15552223333</Number></Dial></Response>"#;
    const RECORD: &str = r#"<Response><Say>Leave a message.</Say><Record action="/twilio/recorded" recordingStatusCallback="/twilio/rec-status" maxLength="120"/></Response>"#;

    /// What the engine side observed.
    struct Observed {
        messages: Vec<Value>,
        greeting_echo_after: Duration,
        reply_echo_after_clear: Duration,
    }

    fn media_out(stream_sid: &str, bytes: &[u8]) -> Value {
        json!({"event": "media", "streamSid": stream_sid, "media": {"payload": BASE64.encode(bytes)}})
    }

    fn mark_out(stream_sid: &str, name: &str) -> Value {
        json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})
    }

    /// Reads until `pred` matches, keeping everything read.
    async fn until(
        socket: &mut EngineSocket,
        seen: &mut Vec<Value>,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            let message = recv(socket).await.expect("socket ended early");
            seen.push(message.clone());
            if pred(&message) {
                return message;
            }
        }
    }

    async fn engine_script(mut socket: EngineSocket) -> Observed {
        let mut messages = Vec::new();
        let start = until(&mut socket, &mut messages, |m| m["event"] == "start").await;
        let sid = start["streamSid"].as_str().unwrap().to_owned();
        send(&mut socket, media_out(&sid, &[0x10; 1600])).await;
        send(&mut socket, media_out(&sid, &[0x10; 1600])).await;
        send(&mut socket, mark_out(&sid, "greeting")).await;
        let sent = Instant::now();
        until(&mut socket, &mut messages, |m| {
            m["event"] == "mark" && m["mark"]["name"] == "greeting"
        })
        .await;
        let greeting_echo_after = sent.elapsed();
        until(&mut socket, &mut messages, |m| m["event"] == "dtmf").await;
        send(&mut socket, media_out(&sid, &[0x20; 8000])).await;
        send(&mut socket, mark_out(&sid, "reply")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        send(&mut socket, json!({"event": "clear", "streamSid": sid})).await;
        let cleared = Instant::now();
        until(&mut socket, &mut messages, |m| {
            m["event"] == "mark" && m["mark"]["name"] == "reply"
        })
        .await;
        let reply_echo_after_clear = cleared.elapsed();
        socket.close(None).await.unwrap();
        while recv(&mut socket).await.is_some() {}
        Observed {
            messages,
            greeting_echo_after,
            reply_echo_after_clear,
        }
    }

    fn check_signature(request: &test_engine::EngineRequest) {
        let expected = compute(TOKEN, &request.url, &request.form, Algorithm::HmacSha1);
        assert_eq!(
            request.signature.as_deref(),
            Some(expected.as_str()),
            "{}",
            request.url
        );
    }

    #[actix_rt::test]
    async fn full_call_streams_like_twilio_and_follows_the_twiml() {
        let mut engine = test_engine::start(
            &[
                ("/twilio/voice", 200, VOICE),
                ("/twilio/after-stream", 200, MENU),
                ("/twilio/menu", 200, DIAL),
                ("/twilio/dial-done", 200, RECORD),
                ("/twilio/recorded", 200, "<Response><Hangup/></Response>"),
                ("/twilio/rec-status", 200, ""),
            ],
            None,
            engine_script,
        )
        .await;
        let mut script = CallerScript::new("+15550001111", "+15559998888");
        script.auth_token = Some(TOKEN.to_owned());
        script.steps = vec![
            CallerStep::WaitForAudio { timeout_ms: 2000 },
            CallerStep::WaitForSilence {
                quiet_ms: 200,
                timeout_ms: 3000,
            },
            CallerStep::Say {
                label: "hello".into(),
                audio: audio::synth_speech(300, 1),
            },
            CallerStep::Dtmf { digit: '5' },
            CallerStep::WaitForClose { timeout_ms: 5000 },
        ];
        script.menu_input = vec![MenuInput::Digits("2".into())];
        script.dial_status = "busy".into();
        script.recording = Some(RecordingOutcome {
            recording_sid: "RE0123456789abcdef0123456789abcdef".into(),
            recording_url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0123456789abcdef0123456789abcdef".into(),
            duration_secs: 7,
        });
        let report = place_call(&engine.base_url, script).await.unwrap();
        let observed = (&mut engine.ws_task)
            .await
            .unwrap()
            .expect("stream was served");
        let timeline = report.timeline_text();

        // The stream session.
        assert!(
            report.problems.is_empty(),
            "{:?}\n{timeline}",
            report.problems
        );
        assert!(
            report.step_timeouts.is_empty(),
            "{:?}\n{timeline}",
            report.step_timeouts
        );
        assert!(
            report.closed_by_engine && !report.hung_up_by_caller,
            "{timeline}"
        );
        assert_eq!(report.stream_url, engine.ws_url);
        assert_eq!(
            report.stream_params,
            vec![
                ("tenant".into(), "acme".into()),
                ("callerId".into(), "+15551230000".into())
            ]
        );
        let upgrade = engine.upgrade.lock().clone().unwrap();
        assert_eq!(upgrade.path, "/twilio/stream");
        let expected = compute(TOKEN, &engine.ws_url, &[], Algorithm::HmacSha1);
        assert_eq!(upgrade.signature.as_deref(), Some(expected.as_str()));

        let messages = &observed.messages;
        assert_eq!(
            messages[0],
            json!({"event":"connected","protocol":"Call","version":"1.0.0"})
        );
        let start = &messages[1];
        assert_eq!(start["sequenceNumber"], "1");
        assert_eq!(start["start"]["callSid"], report.call_sid.as_str());
        assert_eq!(start["streamSid"], report.stream_sid.as_str());
        assert_eq!(
            start["start"]["customParameters"],
            json!({"tenant":"acme","callerId":"+15551230000"})
        );
        for (i, message) in messages[1..].iter().enumerate() {
            assert_eq!(message["sequenceNumber"], (i + 1).to_string(), "{message}");
        }
        let frames: Vec<&Value> = messages.iter().filter(|m| m["event"] == "media").collect();
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(frame["media"]["chunk"], (i + 1).to_string());
            assert_eq!(frame["media"]["timestamp"], (i * 20).to_string());
            let payload = BASE64
                .decode(frame["media"]["payload"].as_str().unwrap())
                .unwrap();
            assert_eq!(payload.len(), 160);
        }
        let loud = frames
            .iter()
            .filter(|f| {
                let payload = BASE64
                    .decode(f["media"]["payload"].as_str().unwrap())
                    .unwrap();
                audio::mulaw_dbfs(&payload) > -35.0
            })
            .count();
        assert!(
            (12..=16).contains(&loud),
            "{loud} loud frames for 300 ms of speech"
        );
        assert!(messages
            .iter()
            .any(|m| m["event"] == "dtmf" && m["dtmf"]["digit"] == "5"));

        // Playback emulation: the greeting played in real time, the clear echoed at once.
        assert!(
            observed.greeting_echo_after >= Duration::from_millis(350),
            "{timeline}"
        );
        assert!(
            observed.reply_echo_after_clear < Duration::from_millis(500),
            "{timeline}"
        );
        assert_eq!(
            report.marks_received,
            vec!["greeting".to_string(), "reply".to_string()]
        );
        assert_eq!(report.marks_echoed, report.marks_received);
        assert_eq!(report.clears.len(), 1);
        assert_eq!(report.received_media_bytes, 3200 + 8000);
        assert!(report.heard[..3200].iter().all(|&b| b == 0x10));
        let reply_heard = report.heard.len() - 3200;
        assert!(
            (400..=4000).contains(&reply_heard),
            "{reply_heard} bytes of reply heard"
        );
        assert!(report
            .greeting_latency
            .is_some_and(|l| l < Duration::from_secs(1)));
        assert_eq!(report.first_audio_after_say.len(), 1);
        assert!(report.first_audio_after_say[0].is_some(), "{timeline}");
        assert_eq!(report.unplayed_at_close_ms, 0);

        // Twilio's requests after the stream.
        let requests = engine.requests();
        for request in &requests {
            check_signature(request);
        }
        let voice = &requests[0];
        assert_eq!(voice.path, "/twilio/voice");
        assert_eq!(voice.param("CallStatus"), Some("ringing"));
        assert_eq!(voice.param("Direction"), Some("inbound"));
        assert_eq!(voice.param("From"), Some("+15550001111"));
        assert_eq!(voice.param("Called"), Some("+15559998888"));
        assert_eq!(voice.param("CallSid"), Some(report.call_sid.as_str()));
        let paths: Vec<&str> = report
            .followups
            .iter()
            .map(|f| f.url.strip_prefix(&engine.base_url).unwrap())
            .collect();
        assert_eq!(
            paths,
            vec![
                "/twilio/after-stream",
                "/twilio/menu",
                "/twilio/dial-done",
                "/twilio/recorded",
                "/twilio/rec-status"
            ]
        );
        let param = |i: usize, name: &str| {
            report.followups[i]
                .params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(param(0, "CallStatus").as_deref(), Some("in-progress"));
        assert_eq!(param(1, "Digits").as_deref(), Some("2"));
        assert_eq!(param(2, "DialCallStatus").as_deref(), Some("busy"));
        assert_eq!(param(2, "DialCallDuration").as_deref(), Some("0"));
        assert_eq!(param(3, "Digits").as_deref(), Some("hangup"));
        assert_eq!(param(3, "RecordingDuration").as_deref(), Some("7"));
        assert_eq!(param(4, "RecordingStatus").as_deref(), Some("completed"));
        assert_eq!(report.followups[0].twiml, MENU);
        assert!(report.followups.iter().all(|f| f.status == 200));
        assert_eq!(requests.len(), 6);
        engine.stop().await;
    }

    #[actix_rt::test]
    async fn refused_upgrade_is_reported_and_ends_the_call() {
        let engine = test_engine::start(
            &[
                ("/twilio/voice", 200, VOICE),
                ("/twilio/after-stream", 200, MENU),
            ],
            Some(403),
            |_socket| async {},
        )
        .await;
        let report = place_call(&engine.base_url, CallerScript::new("+1555", "+1666"))
            .await
            .unwrap();
        assert_eq!(report.handshake_status, Some(403));
        assert!(report.followups.is_empty());
        assert!(!report.closed_by_engine);
        // Unsigned calls carry no signature at all.
        assert_eq!(engine.upgrade.lock().clone().unwrap().signature, None);
        assert_eq!(engine.requests()[0].signature, None);
        engine.stop().await;
    }

    #[actix_rt::test]
    async fn refused_voice_webhook_is_an_error() {
        let engine =
            test_engine::start(&[("/twilio/voice", 403, "forbidden")], None, |_s| async {}).await;
        let error = place_call(&engine.base_url, CallerScript::new("+1555", "+1666"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SimError::WebhookStatus { status: 403, .. }),
            "{error}"
        );
        engine.stop().await;
    }

    #[actix_rt::test]
    async fn caller_hangs_up_when_the_script_ends_and_flags_bad_messages() {
        let mut engine = test_engine::start(
            &[
                ("/twilio/voice", 200, VOICE),
                ("/twilio/after-stream", 200, MENU),
            ],
            None,
            |mut socket: EngineSocket| async move {
                let mut seen = Vec::new();
                until(&mut socket, &mut seen, |m| m["event"] == "start").await;
                send(&mut socket, media_out("MZwrong", &[0x10; 160])).await;
                socket
                    .send(tokio_tungstenite::tungstenite::Message::text("not json"))
                    .await
                    .unwrap();
                until(&mut socket, &mut seen, |m| m["event"] == "stop").await
            },
        )
        .await;
        let mut script = CallerScript::new("+1555", "+1666");
        script.steps = vec![CallerStep::WaitForAudio { timeout_ms: 200 }];
        let report = place_call(&engine.base_url, script).await.unwrap();
        let stop = (&mut engine.ws_task).await.unwrap().unwrap();
        assert_eq!(stop["stop"]["callSid"], report.call_sid.as_str());
        assert!(report.hung_up_by_caller);
        assert!(!report.closed_by_engine);
        assert!(
            report.followups.is_empty(),
            "no Connect action after a caller hang-up"
        );
        assert_eq!(
            report.step_timeouts,
            vec!["WaitForAudio (200 ms)".to_string()]
        );
        assert_eq!(report.received_media_bytes, 0);
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].contains("unknown streamSid"));
        assert!(report.problems[1].contains("not JSON"));
        engine.stop().await;
    }

    #[actix_rt::test]
    async fn gather_without_input_falls_through_and_redirect_loops_stop() {
        let engine = test_engine::start(
            &[
                (
                    "/twilio/voice",
                    200,
                    r#"<Response><Gather action="/g"><Say>Menu</Say></Gather><Redirect>/twilio/loop</Redirect></Response>"#,
                ),
                ("/twilio/loop", 200, r#"<Response><Redirect method="GET">/twilio/loop?again=1</Redirect></Response>"#),
            ],
            None,
            |_s| async {},
        )
        .await;
        let report = place_call(&engine.base_url, CallerScript::new("+1555", "+1666"))
            .await
            .unwrap();
        assert_eq!(report.followups.len(), flow::MAX_HOPS);
        assert!(report.followups[1].url.ends_with("/twilio/loop?again=1"));
        assert!(report.problems.iter().any(|p| p.contains("more than 10")));
        let requests = engine.requests();
        assert!(requests.iter().all(|r| r.path != "/g"));
        // GET callbacks put the params in the query string.
        assert!(requests[2].url.contains("CallSid="), "{}", requests[2].url);
        assert!(requests[2].form.is_empty());
        engine.stop().await;
    }

    #[tokio::test]
    async fn invalid_scripts_are_rejected_up_front() {
        let mut script = CallerScript::new("+1555", "+1666");
        script.steps = vec![CallerStep::Dtmf { digit: 'x' }];
        let error = place_call("http://127.0.0.1:9", script).await.unwrap_err();
        assert!(matches!(error, SimError::InvalidScript(_)));
    }
}
