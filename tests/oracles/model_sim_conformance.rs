//! The Realtime model simulator and the engine's Realtime protocol layer,
//! both checked against the official OpenAI SDK's own event models
//! (`tests/oracles/py/realtime_events.py`, run in the pinned Python venv).
//!
//! Set up the oracle once with `scripts/pytools.sh` (scripts/test.sh does it),
//! or point `FRONTDESK_PYTHON` at a python that has the `openai` package.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use frontdesk::realtime::events::{self as ev, parse_server_event, ResponseStatus, ServerEvent};
use frontdesk::realtime::session::{
    realtime_url, session_update_json, AudioFormat, SessionParams, ToolSpec, TurnDetection,
};
use frontdesk_sim::model::{
    all_client_events, ConnectionBehavior, ModelScript, ModelSim, ModelSimHandle, ScriptTurn,
};

// ------------------------------------------------------------------ oracle

fn oracles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles")
}

fn python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/pytools/bin/python"));
    assert!(
        python.is_file(),
        "Python for the OpenAI SDK oracle not found at {}. Set it up with \
         scripts/pytools.sh from {} (or set FRONTDESK_PYTHON)",
        python.display(),
        manifest.display()
    );
    python
}

/// Run the SDK checker over `events` (one JSON event each) and fail with its output.
fn check_with_sdk(side: &str, events: &[String]) {
    assert!(!events.is_empty(), "nothing to check on the {side} side");
    let script = oracles_dir().join("py/realtime_events.py");
    assert!(
        script.is_file(),
        "checker not found at {}",
        script.display()
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for e in events {
        assert!(!e.contains('\n'), "event spans lines: {e}");
        writeln!(file, "{e}").unwrap();
    }
    file.flush().unwrap();
    let out = Command::new(python())
        .arg(&script)
        .args(["--side", side])
        .arg(file.path())
        .env("PYTHONUTF8", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{side} events rejected by the OpenAI SDK:\n{stdout}\n{}\n--- events ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        events
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{}: {}", i + 1, truncate(e)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stdout.contains(&format!("{} valid, 0 invalid", events.len())),
        "{stdout}"
    );
}

fn truncate(s: &str) -> String {
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}

// ------------------------------------------------------------------ audio

#[derive(Clone, Copy)]
enum Fmt {
    Pcmu,
    Pcm,
}

impl Fmt {
    fn rate(self) -> usize {
        match self {
            Fmt::Pcmu => 8000,
            Fmt::Pcm => 24000,
        }
    }
    fn frame_bytes(self) -> usize {
        match self {
            Fmt::Pcmu => 160,
            Fmt::Pcm => 960,
        }
    }
    fn bytes_per_ms(self) -> usize {
        self.frame_bytes() / 20
    }
}

fn mulaw(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80u8 } else { 0 };
    let mag = s.abs().min(32_635) + 0x84;
    let exp = (31 - mag.leading_zeros() as i32 - 7).clamp(0, 7);
    let mant = ((mag >> (exp + 3)) & 0x0f) as u8;
    !(sign | ((exp as u8) << 4) | mant)
}

fn unmulaw(code: u8) -> i16 {
    let c = !code;
    let exp = i32::from((c >> 4) & 7);
    let mag = (((i32::from(c & 0x0f) << 3) + 0x84) << exp) - 0x84;
    (if c & 0x80 != 0 { -mag } else { mag }) as i16
}

fn encode(fmt: Fmt, samples: &[i16]) -> Vec<u8> {
    match fmt {
        Fmt::Pcmu => samples.iter().map(|&s| mulaw(s)).collect(),
        Fmt::Pcm => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
    }
}

fn decode(fmt: Fmt, bytes: &[u8]) -> Vec<i16> {
    match fmt {
        Fmt::Pcmu => bytes.iter().map(|&b| unmulaw(b)).collect(),
        Fmt::Pcm => bytes
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect(),
    }
}

/// A 220 Hz tone at about -12 dBFS: "the caller talking" as far as VAD goes.
fn speech(fmt: Fmt, ms: usize) -> Vec<u8> {
    let n = fmt.rate() * ms / 1000;
    let s: Vec<i16> = (0..n)
        .map(|i| {
            ((i as f64 * 220.0 * std::f64::consts::TAU / fmt.rate() as f64).sin() * 8000.0) as i16
        })
        .collect();
    encode(fmt, &s)
}

fn silence(fmt: Fmt, ms: usize) -> Vec<u8> {
    encode(fmt, &vec![0; fmt.rate() * ms / 1000])
}

fn rms_dbfs(samples: &[i16]) -> f64 {
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    10.0 * (sum / samples.len().max(1) as f64).max(1e-12).log10()
}

// ------------------------------------------------------------------ client

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw Realtime client that records what it sent and received.
struct Client {
    ws: Ws,
    /// Every client event sent that must be valid per the SDK.
    sent: Vec<String>,
    /// Every server event received, raw.
    received: Vec<String>,
}

const WAIT: Duration = Duration::from_secs(10);

impl Client {
    async fn connect(sim: &ModelSimHandle, key: Option<&str>) -> Client {
        let url = realtime_url(&sim.base_url(), "gpt-realtime").unwrap();
        let mut req = url.as_str().into_client_request().unwrap();
        if let Some(k) = key {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {k}")).unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut c = Client {
            ws,
            sent: Vec::new(),
            received: Vec::new(),
        };
        let created = c.next().await;
        assert_eq!(created["type"], "session.created", "{created}");
        c
    }

    async fn send(&mut self, text: String) {
        self.sent.push(text.clone());
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Deliberately invalid events: sent but kept out of the SDK check.
    async fn send_invalid(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.unwrap();
    }

    async fn send_audio(&mut self, fmt: Fmt, audio: &[u8]) {
        for frame in audio.chunks(fmt.frame_bytes()) {
            self.send(ev::input_audio_append_json(&B64.encode(frame)))
                .await;
        }
    }

    async fn try_next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    self.received.push(t.as_str().to_string());
                    return Some(serde_json::from_str(t.as_str()).unwrap());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("connection ended unexpectedly: {other:?}"),
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.try_next(WAIT)
            .await
            .expect("timed out waiting for a server event")
    }

    /// Events up to and including the next one of type `kind`.
    async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.next().await;
            let done = v["type"] == kind;
            out.push(v);
            if done {
                return out;
            }
        }
    }

    /// Everything that arrives within `ms`.
    async fn quiet(&mut self, ms: u64) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.try_next(Duration::from_millis(ms)).await {
            out.push(v);
        }
        out
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect()
}

fn find<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", types(events)))
}

fn audio_of(fmt: Fmt, events: &[Value]) -> Vec<u8> {
    let mut audio = Vec::new();
    for e in events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
    {
        let chunk = B64.decode(e["delta"].as_str().unwrap()).unwrap();
        assert!(
            rms_dbfs(&decode(fmt, &chunk)) > -35.0,
            "generated audio chunk is silent"
        );
        audio.extend(chunk);
    }
    audio
}

fn params(format: AudioFormat, turn_detection: TurnDetection) -> SessionParams {
    SessionParams {
        model: "gpt-realtime".into(),
        instructions: "You are the receptionist of a dental clinic. Be brief.".into(),
        voice: "marin".into(),
        format,
        turn_detection,
        transcription_model: Some("gpt-4o-transcribe".into()),
        transcription_language: Some("en".into()),
        noise_reduction: Some("near_field".into()),
        tools: vec![ToolSpec {
            name: "book_appointment".into(),
            description: "Book an appointment".into(),
            parameters: json!({"type":"object","properties":{"time":{"type":"string"}},"required":["time"]}),
        }],
        max_output_tokens: Some(1024),
    }
}

fn server_vad(silence_ms: u32, idle: Option<u32>) -> TurnDetection {
    TurnDetection::ServerVad {
        threshold: 0.5,
        prefix_padding_ms: 300,
        silence_duration_ms: silence_ms,
        idle_timeout_ms: idle,
    }
}

const LONG_REPLY: &str = "Let me tell you all about our clinic, which has been serving the neighbourhood for more \
    than thirty years, with four dentists, two hygienists and a very patient front desk team who love a long story.";

fn script() -> ModelScript {
    ModelScript {
        greeting: "Hello, dental clinic.".into(),
        turns: vec![
            ScriptTurn::Reply {
                caller: "What are your hours?".into(),
                reply: "We are open nine to five.".into(),
            },
            ScriptTurn::Tool {
                caller: "Book me at ten.".into(),
                name: "book_appointment".into(),
                arguments: json!({"time": "10:00"}),
                reply_template: "You are booked: {output}.".into(),
            },
            ScriptTurn::Reply {
                caller: "Tell me about the clinic.".into(),
                reply: LONG_REPLY.into(),
            },
        ],
        audio_ms_per_char: 10,
        speedup: 2.0,
        chunk_ms: 100,
        api_key: Some("sk-test".into()),
        ..ModelScript::default()
    }
}

/// A caller turn: lead-in silence, speech, then enough silence for VAD to end the turn.
async fn caller_turn(c: &mut Client, fmt: Fmt) {
    let mut audio = silence(fmt, 400);
    audio.extend(speech(fmt, 600));
    audio.extend(silence(fmt, 600));
    c.send_audio(fmt, &audio).await;
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn simulator_and_client_events_conform_to_the_sdk() {
    let sim = ModelSim::start(script()).await.unwrap();
    let fmt = Fmt::Pcmu;
    let mut c = Client::connect(&sim, Some("sk-test")).await;

    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, None),
    )))
    .await;
    let updated = c.until("session.updated").await;
    let s = &updated.last().unwrap()["session"];
    assert_eq!(s["audio"]["output"]["format"], json!({"type":"audio/pcmu"}));
    assert_eq!(s["audio"]["input"]["format"], json!({"type":"audio/pcmu"}));
    assert_eq!(s["audio"]["output"]["voice"], "marin");
    assert_eq!(
        s["audio"]["input"]["turn_detection"]["silence_duration_ms"],
        300
    );

    // Greeting, with metadata echoed.
    c.send(ev::response_create_json(
        Some("Greet the caller."),
        Some(&[("purpose", "greeting")]),
    ))
    .await;
    let greeting = c.until("response.done").await;
    assert_eq!(
        types(&greeting)[..5],
        [
            "rate_limits.updated",
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added"
        ]
    );
    let done = greeting.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["metadata"], json!({"purpose": "greeting"}));
    assert_eq!(
        find(&greeting, "response.output_audio_transcript.done")["transcript"],
        "Hello, dental clinic."
    );
    // 21 characters × 10 ms, µ-law at 8 bytes/ms, in 100 ms chunks (100 + 100 + 10).
    assert_eq!(audio_of(fmt, &greeting).len(), 21 * 10 * 8);
    assert_eq!(
        greeting
            .iter()
            .filter(|e| e["type"] == "response.output_audio.delta")
            .count(),
        3
    );

    // Turn 1: VAD, commit, transcript, answer.
    caller_turn(&mut c, fmt).await;
    let turn1 = c.until("response.done").await;
    let t = types(&turn1);
    let pos = |k: &str| {
        t.iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} in {t:?}"))
    };
    assert!(pos("input_audio_buffer.speech_started") < pos("input_audio_buffer.speech_stopped"));
    assert!(pos("input_audio_buffer.speech_stopped") < pos("input_audio_buffer.committed"));
    assert!(pos("input_audio_buffer.committed") < pos("response.created"));
    let started = find(&turn1, "input_audio_buffer.speech_started");
    assert_eq!(
        started["audio_start_ms"], 100,
        "400 ms of lead-in minus 300 ms of prefix padding"
    );
    let stopped = find(&turn1, "input_audio_buffer.speech_stopped");
    assert_eq!(stopped["item_id"], started["item_id"]);
    assert_eq!(stopped["audio_end_ms"], 400 + 600 + 300);
    assert_eq!(
        find(
            &turn1,
            "conversation.item.input_audio_transcription.completed"
        )["transcript"],
        "What are your hours?"
    );
    assert_eq!(
        find(&turn1, "response.output_audio_transcript.done")["transcript"],
        "We are open nine to five."
    );
    assert_eq!(
        turn1.last().unwrap()["response"]["usage"]["output_token_details"]["audio_tokens"],
        250 / 50
    );

    // Turn 2: a function call, its output, the templated answer, and a
    // response.create while that answer is still being spoken.
    caller_turn(&mut c, fmt).await;
    let turn2 = c.until("response.done").await;
    let args_done = find(&turn2, "response.function_call_arguments.done");
    assert_eq!(args_done["name"], "book_appointment");
    assert_eq!(args_done["arguments"], "{\"time\":\"10:00\"}");
    let parsed = parse_server_event(&turn2.last().unwrap().to_string()).unwrap();
    let ServerEvent::ResponseDone {
        function_calls,
        status: ResponseStatus::Completed,
        ..
    } = parsed
    else {
        panic!("{parsed:?}")
    };
    assert_eq!(function_calls.len(), 1);
    let call_id = function_calls[0].call_id.clone();
    assert_eq!(call_id, args_done["call_id"].as_str().unwrap());
    c.send(ev::function_call_output_json(
        &call_id,
        "{\"confirmed\":true}",
    ))
    .await;
    let added = c.until("conversation.item.done").await;
    assert_eq!(
        find(&added, "conversation.item.added")["item"]["type"],
        "function_call_output"
    );
    c.send(ev::response_create_json(None, None)).await;
    c.send(ev::response_create_json(None, None)).await;
    let answer = c.until("response.done").await;
    let busy = find(&answer, "error");
    assert_eq!(
        busy["error"]["code"],
        "conversation_already_has_active_response"
    );
    assert_eq!(busy["error"]["type"], "invalid_request_error");
    assert_eq!(
        find(&answer, "response.output_audio_transcript.done")["transcript"],
        "You are booked: {\"confirmed\":true}."
    );

    // Turn 3: barge-in during a long answer, then truncation.
    caller_turn(&mut c, fmt).await;
    let mut long = c.until("response.output_audio.delta").await;
    let item_id = long.last().unwrap()["item_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Wait for a few chunks so there is audio to truncate to.
    for _ in 0..2 {
        long.extend(c.until("response.output_audio.delta").await);
    }
    let mut barge = speech(fmt, 600);
    barge.extend(silence(fmt, 600));
    c.send_audio(fmt, &barge).await;
    let cancelled = c.until("response.done").await;
    long.extend(cancelled.clone());
    let done = cancelled.last().unwrap();
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    assert!(types(&cancelled).contains(&"input_audio_buffer.speech_started"));
    let generated_ms = audio_of(fmt, &long).len() / fmt.bytes_per_ms();
    assert!(
        generated_ms >= 300 && generated_ms < LONG_REPLY.len() * 10,
        "{generated_ms}"
    );
    // The barge-in turn is past the script: the simulator asks again.
    let unscripted = c.until("response.done").await;
    assert_eq!(
        unscripted.last().unwrap()["response"]["status"],
        "completed"
    );

    c.send(ev::truncate_json(&item_id, 0, 200)).await;
    let truncated = c.until("conversation.item.truncated").await;
    assert_eq!(truncated.last().unwrap()["audio_end_ms"], 200);
    c.send(ev::truncate_json(&item_id, 0, 99_999)).await;
    let err = c.until("error").await;
    assert_eq!(err.last().unwrap()["error"]["code"], "invalid_value");
    c.send(ev::truncate_json("item_nope", 0, 10)).await;
    assert_eq!(
        c.until("error").await.last().unwrap()["error"]["code"],
        "item_truncate_invalid_item_id"
    );

    // Cancel: nothing active, then an active response.
    c.send(ev::response_cancel_json()).await;
    assert_eq!(
        c.until("error").await.last().unwrap()["error"]["code"],
        "response_cancel_not_active"
    );
    c.send(ev::response_create_json(None, None)).await;
    c.send(ev::response_cancel_json()).await;
    let cancelled = c.until("response.done").await;
    assert_eq!(cancelled.last().unwrap()["response"]["status"], "cancelled");
    assert_eq!(
        cancelled.last().unwrap()["response"]["status_details"]["reason"],
        "client_cancelled"
    );

    // Text items of every role, a manual commit with nothing buffered.
    c.send(ev::user_text_item_json("The caller pressed 1."))
        .await;
    c.send(ev::assistant_text_item_json("I said hello.")).await;
    c.send(ev::system_text_item_json("The caller is verified."))
        .await;
    let items = c.until("conversation.item.done").await;
    assert_eq!(items.last().unwrap()["item"]["role"], "user");
    assert_eq!(
        c.until("conversation.item.done").await.last().unwrap()["item"]["role"],
        "assistant"
    );
    assert_eq!(
        c.until("conversation.item.done").await.last().unwrap()["item"]["role"],
        "system"
    );
    let user_item = items.last().unwrap()["item"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.send(json!({"type": "conversation.item.retrieve", "item_id": user_item}).to_string())
        .await;
    let got = c.until("conversation.item.retrieved").await;
    assert_eq!(
        got.last().unwrap()["item"]["content"][0]["text"],
        "The caller pressed 1."
    );
    c.send(json!({"type": "conversation.item.delete", "item_id": user_item}).to_string())
        .await;
    assert_eq!(
        c.until("conversation.item.deleted").await.last().unwrap()["item_id"],
        user_item.as_str()
    );
    // The trailing silence of the last turn is still buffered: clear it first.
    c.send(r#"{"type":"input_audio_buffer.clear"}"#.to_string())
        .await;
    c.until("input_audio_buffer.cleared").await;
    c.send(r#"{"type":"input_audio_buffer.commit","event_id":"evt_commit"}"#.to_string())
        .await;
    let e = c.until("error").await;
    assert_eq!(
        e.last().unwrap()["error"]["code"],
        "input_audio_buffer_commit_empty"
    );
    assert_eq!(e.last().unwrap()["error"]["event_id"], "evt_commit");

    // Mistakes the real server rejects (not sent through the SDK check).
    c.send_invalid(r#"{"type":"bogus.event"}"#).await;
    assert_eq!(
        c.until("error").await.last().unwrap()["error"]["type"],
        "invalid_request_error"
    );
    c.send_invalid(
        r#"{"type":"session.update","session":{"type":"realtime","modalities":["audio"]}}"#,
    )
    .await;
    assert_eq!(
        c.until("error").await.last().unwrap()["error"]["code"],
        "unknown_parameter"
    );
    c.send_invalid(r#"{"type":"session.update","session":{"type":"realtime","audio":{"output":{"voice":"ash"}}}}"#)
        .await;
    assert_eq!(
        c.until("error").await.last().unwrap()["error"]["code"],
        "cannot_update_voice"
    );

    // A second session in PCM16 24 kHz with semantic VAD.
    let pcm = Fmt::Pcm;
    let mut c2 = Client::connect(&sim, Some("sk-test")).await;
    c2.send(session_update_json(&params(
        AudioFormat::Pcm24k,
        TurnDetection::SemanticVad {
            eagerness: "high".into(),
        },
    )))
    .await;
    let updated = c2.until("session.updated").await;
    assert_eq!(
        updated.last().unwrap()["session"]["audio"]["output"]["format"],
        json!({"type":"audio/pcm","rate":24000})
    );
    let mut audio = silence(pcm, 400);
    audio.extend(speech(pcm, 600));
    audio.extend(silence(pcm, 600));
    c2.send_audio(pcm, &audio).await;
    let turn = c2.until("response.done").await;
    assert!(types(&turn).contains(&"input_audio_buffer.committed"));
    let spoken = find(&turn, "response.output_audio_transcript.done")["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    let pcm_audio = audio_of(pcm, &turn);
    assert_eq!(pcm_audio.len(), spoken.chars().count() * 10 * 48);

    // Everything the simulator sent is a valid GA server event, and the
    // engine's parser reads every one of them.
    let mut server: Vec<String> = c.received.clone();
    server.extend(c2.received.clone());
    for text in &server {
        let parsed = parse_server_event(text).unwrap_or_else(|e| panic!("{e}: {}", truncate(text)));
        let v: Value = serde_json::from_str(text).unwrap();
        if v["type"] == "response.output_audio.delta" {
            assert!(matches!(parsed, ServerEvent::AudioDelta { .. }));
        }
    }
    check_with_sdk("server", &server);

    // Everything the client builders produced is a valid GA client event.
    let mut client = c.sent.clone();
    client.extend(c2.sent.clone());
    check_with_sdk("client", &client);

    // The simulator recorded exactly what was exchanged.
    let rec = sim.record();
    assert_eq!(rec.connections.len(), 2);
    assert_eq!(rec.connections[0].server_events, c.received);
    assert_eq!(
        rec.connections[0].authorization.as_deref(),
        Some("Bearer sk-test")
    );
    assert_eq!(
        rec.connections[0].path_and_query,
        "/v1/realtime?model=gpt-realtime"
    );
    assert_eq!(rec.connections[0].truncates.len(), 3);
    assert_eq!(rec.connections[0].items_created.len(), 4);
    assert_eq!(rec.connections[1].session_updates.len(), 1);
    assert_eq!(rec.connections[1].input_audio, audio);
    let all = all_client_events(&rec);
    assert_eq!(all.len(), c.sent.len() + 3 + c2.sent.len());
    let said: Vec<(&str, &str)> = rec
        .transcript
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(said[0], ("model", "Hello, dental clinic."));
    assert_eq!(said[1], ("caller", "What are your hours?"));
    assert_eq!(said[2], ("model", "We are open nine to five."));
    assert_eq!(said[3], ("caller", "Book me at ten."));
    assert_eq!(said[4], ("model", "You are booked: {\"confirmed\":true}."));
    assert_eq!(said[5], ("caller", "Tell me about the clinic."));
    assert_eq!(said[6].0, "model");
    assert!(
        LONG_REPLY.starts_with(said[6].1) && said[6].1.len() < LONG_REPLY.len(),
        "{:?}",
        said[6]
    );
}

/// Read until the connection ends; asserts it ended without a close frame.
async fn expect_abrupt_end(c: &mut Client) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let msg = tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("connection did not end");
        match msg {
            Some(Ok(Message::Text(t))) => events.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(f))) => {
                panic!("got a close frame {f:?}; expected an abrupt end")
            }
            Some(Ok(_)) => {}
            Some(Err(tungstenite::Error::Protocol(_) | tungstenite::Error::Io(_))) | None => {
                return events
            }
            Some(Err(e)) => panic!("unexpected error {e}"),
        }
    }
}

fn handshake_status(result: Result<impl Sized, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, the handshake succeeded"),
    }
}

#[tokio::test]
async fn handshake_checks_path_model_key_and_scripted_refusals() {
    let sim = ModelSim::start(ModelScript {
        api_key: Some("sk-right".into()),
        connections: vec![ConnectionBehavior::RejectHandshake { status: 503 }],
        ..ModelScript::default()
    })
    .await
    .unwrap();
    let base = format!("ws://{}", sim.addr);
    let with_key = |url: String, key: &str| {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
        req
    };
    let url = format!("{base}/v1/realtime?model=gpt-realtime");
    // Connection 0 is refused by the script, whatever it sends.
    assert_eq!(
        handshake_status(tokio_tungstenite::connect_async(with_key(url.clone(), "sk-right")).await),
        503
    );
    assert_eq!(
        handshake_status(tokio_tungstenite::connect_async(url.clone()).await),
        401
    );
    assert_eq!(
        handshake_status(tokio_tungstenite::connect_async(with_key(url.clone(), "sk-wrong")).await),
        401
    );
    assert_eq!(
        handshake_status(
            tokio_tungstenite::connect_async(with_key(
                format!("{base}/v2/realtime?model=m"),
                "sk-right"
            ))
            .await
        ),
        404
    );
    assert_eq!(
        handshake_status(
            tokio_tungstenite::connect_async(with_key(format!("{base}/v1/realtime"), "sk-right"))
                .await
        ),
        400
    );
    let mut beta = with_key(url.clone(), "sk-right");
    beta.headers_mut()
        .insert("openai-beta", HeaderValue::from_static("realtime=v1"));
    assert_eq!(
        handshake_status(tokio_tungstenite::connect_async(beta).await),
        400
    );
    let (mut ok, _) = tokio_tungstenite::connect_async(with_key(url, "sk-right"))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, ok.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let created: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["session"]["model"], "gpt-realtime");
    check_with_sdk("server", &[first.to_text().unwrap().to_string()]);

    let rec = sim.record();
    assert_eq!(
        rec.connections.len(),
        7,
        "every handshake attempt is recorded"
    );
    assert_eq!(rec.connections[1].authorization, None);
    assert_eq!(
        rec.connections[2].authorization.as_deref(),
        Some("Bearer sk-wrong")
    );
    assert_eq!(rec.connections[3].path_and_query, "/v2/realtime?model=m");
    assert_eq!(sim.base_url(), format!("http://{}/v1", sim.addr));
}

#[tokio::test]
async fn dropped_connection_resumes_the_unanswered_turn() {
    let sim = ModelSim::start(ModelScript {
        greeting: "Hi there.".into(),
        turns: vec![
            ScriptTurn::Reply {
                caller: "Are you open on Sunday?".into(),
                reply: "No, we are closed on Sundays.".into(),
            },
            ScriptTurn::Reply {
                caller: "Thanks.".into(),
                reply: "You're welcome.".into(),
            },
        ],
        connections: vec![ConnectionBehavior::DropMidResponse { after_deltas: 2 }],
        resume_reply: "Sorry, where were we?".into(),
        audio_ms_per_char: 20,
        speedup: 20.0,
        ..ModelScript::default()
    })
    .await
    .unwrap();
    let fmt = Fmt::Pcmu;
    let mut c = Client::connect(&sim, None).await;
    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, None),
    )))
    .await;
    c.until("session.updated").await;
    // The greeting answers no caller turn: it is not dropped.
    c.send(ev::response_create_json(None, None)).await;
    let greeting = c.until("response.done").await;
    assert_eq!(greeting.last().unwrap()["response"]["status"], "completed");
    caller_turn(&mut c, fmt).await;
    let cut = expect_abrupt_end(&mut c).await;
    assert_eq!(
        cut.iter()
            .filter(|e| e["type"] == "response.output_audio.delta")
            .count(),
        2
    );
    assert!(!types(&cut).contains(&"response.done"));

    // The engine reconnects, replays, and asks for a response: the cut answer is given again.
    let mut c = Client::connect(&sim, None).await;
    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, None),
    )))
    .await;
    c.until("session.updated").await;
    c.send(ev::user_text_item_json("Are you open on Sunday?"))
        .await;
    c.until("conversation.item.done").await;
    c.send(ev::response_create_json(None, None)).await;
    let again = c.until("response.done").await;
    assert_eq!(
        find(&again, "response.output_audio_transcript.done")["transcript"],
        "No, we are closed on Sundays."
    );
    // Now answered: a further create is the resume line.
    c.send(ev::response_create_json(None, None)).await;
    let resume = c.until("response.done").await;
    assert_eq!(
        find(&resume, "response.output_audio_transcript.done")["transcript"],
        "Sorry, where were we?"
    );
    // Script progress continues across connections.
    caller_turn(&mut c, fmt).await;
    let next = c.until("response.done").await;
    assert_eq!(
        find(
            &next,
            "conversation.item.input_audio_transcription.completed"
        )["transcript"],
        "Thanks."
    );
    assert_eq!(
        find(&next, "response.output_audio_transcript.done")["transcript"],
        "You're welcome."
    );
    check_with_sdk(
        "server",
        &sim.record()
            .connections
            .iter()
            .flat_map(|c| c.server_events.clone())
            .collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn deaf_connection_never_confirms_the_session() {
    let sim = ModelSim::start(ModelScript {
        connections: vec![ConnectionBehavior::NoSessionUpdated],
        ..ModelScript::default()
    })
    .await
    .unwrap();
    let mut c = Client::connect(&sim, None).await;
    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, None),
    )))
    .await;
    c.send(ev::response_create_json(None, None)).await;
    assert!(c.quiet(300).await.is_empty());
    assert_eq!(
        sim.record().connections[0].client_events.len(),
        2,
        "still recorded"
    );
    // The next connection is normal.
    let mut c = Client::connect(&sim, None).await;
    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, None),
    )))
    .await;
    assert_eq!(c.next().await["type"], "session.updated");
}

#[tokio::test]
async fn idle_timeout_error_turn_and_silent_turn() {
    let sim = ModelSim::start(ModelScript {
        greeting: "Hello.".into(),
        turns: vec![
            ScriptTurn::Error {
                caller: "Hm.".into(),
                code: "server_error".into(),
                message: "The model crashed.".into(),
            },
            ScriptTurn::Silent {
                caller: "Hello?".into(),
            },
        ],
        audio_ms_per_char: 10,
        speedup: 20.0,
        ..ModelScript::default()
    })
    .await
    .unwrap();
    let fmt = Fmt::Pcmu;
    let mut c = Client::connect(&sim, None).await;
    c.send(session_update_json(&params(
        AudioFormat::Pcmu,
        server_vad(300, Some(500)),
    )))
    .await;
    c.until("session.updated").await;
    c.send(ev::response_create_json(None, None)).await;
    c.until("response.done").await;
    // 60 ms of greeting audio played, then 500 ms of silence: the idle timeout fires.
    c.send_audio(fmt, &silence(fmt, 700)).await;
    let idle = c.until("response.done").await;
    let trig = find(&idle, "input_audio_buffer.timeout_triggered");
    assert!(trig["audio_end_ms"].as_u64().unwrap() >= 560, "{trig}");
    assert!(types(&idle).contains(&"input_audio_buffer.committed"));
    assert_eq!(
        find(&idle, "response.output_audio_transcript.done")["transcript"],
        "Are you still there?"
    );

    caller_turn(&mut c, fmt).await;
    let failed = c.until("error").await;
    assert!(types(&failed).contains(&"input_audio_buffer.committed"));
    assert!(!types(&failed).contains(&"response.created"));
    let err = &failed.last().unwrap()["error"];
    assert_eq!(
        (err["code"].as_str(), err["message"].as_str()),
        (Some("server_error"), Some("The model crashed."))
    );

    caller_turn(&mut c, fmt).await;
    let silent = c.quiet(400).await;
    assert!(types(&silent).contains(&"input_audio_buffer.committed"));
    assert!(
        !types(&silent).contains(&"response.created"),
        "{:?}",
        types(&silent)
    );
    // The hang belongs to the turn: a later response.create (an engine's
    // resumed session asks this way) gets the resume reply.
    c.send(ev::response_create_json(None, None)).await;
    assert!(
        types(&c.until("response.done").await).contains(&"response.output_audio.delta"),
        "response.create after a hung turn gets an answer"
    );
    check_with_sdk("server", &c.received);
}

/// Every server event sample of the protocol reference (kept in
/// `tests/oracles/realtime-server-samples.json`) parses into the right variant.
#[test]
fn reference_server_samples_parse() {
    let doc = std::fs::read_to_string(oracles_dir().join("realtime-server-samples.json")).unwrap();
    let samples: Vec<Value> = serde_json::from_str(&doc).unwrap();
    let blocks: Vec<String> = samples.iter().map(Value::to_string).collect();
    assert!(
        blocks.len() >= 25,
        "found only {} server samples",
        blocks.len()
    );
    for block in &blocks {
        let v: Value = serde_json::from_str(block).unwrap();
        let kind = v["type"].as_str().unwrap();
        let parsed = parse_server_event(block).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let ok = match (kind, &parsed) {
            ("session.created", ServerEvent::SessionCreated { session_id }) => {
                session_id.as_deref() == Some("sess_1")
            }
            ("session.updated", ServerEvent::SessionUpdated) => true,
            (
                "input_audio_buffer.speech_started",
                ServerEvent::SpeechStarted {
                    audio_start_ms,
                    item_id,
                },
            ) => *audio_start_ms == 1200 && item_id == "item_user_1",
            (
                "input_audio_buffer.speech_stopped",
                ServerEvent::SpeechStopped { audio_end_ms, .. },
            ) => *audio_end_ms == 2900,
            ("input_audio_buffer.committed", ServerEvent::Committed { item_id }) => {
                item_id == "item_user_1"
            }
            ("input_audio_buffer.timeout_triggered", ServerEvent::TimeoutTriggered { item_id }) => {
                item_id == "item_user_2"
            }
            (
                "conversation.item.input_audio_transcription.completed",
                ServerEvent::InputTranscript { transcript, .. },
            ) => transcript == "I want to check my order.",
            (
                "conversation.item.input_audio_transcription.failed",
                ServerEvent::InputTranscriptFailed { message, .. },
            ) => message == "Audio could not be transcribed.",
            ("response.created", ServerEvent::ResponseCreated { response_id }) => {
                response_id == "resp_1"
            }
            ("response.output_audio.delta", ServerEvent::AudioDelta { delta, .. }) => {
                delta == "/////w=="
            }
            ("response.output_audio.done", ServerEvent::AudioDone { item_id, .. }) => {
                item_id == "item_asst_1"
            }
            (
                "response.output_audio_transcript.done",
                ServerEvent::AudioTranscriptDone { transcript, .. },
            ) => transcript == "Hi, how can I help?",
            ("response.output_item.added", ServerEvent::OutputItemAdded { item, .. }) => matches!(
                item,
                ev::OutputItem::Message { .. } | ev::OutputItem::FunctionCall { .. }
            ),
            (
                "response.function_call_arguments.done",
                ServerEvent::FunctionCallArgumentsDone {
                    call_id,
                    name,
                    arguments,
                    ..
                },
            ) => {
                call_id == "call_abc123"
                    && name == "lookup_order"
                    && arguments == "{\"order_id\":\"A17\"}"
            }
            (
                "response.done",
                ServerEvent::ResponseDone {
                    status: ResponseStatus::Completed,
                    usage: Some(u),
                    ..
                },
            ) => {
                u.total_tokens == 253
                    && u.cached_tokens == 64
                    && u.output_audio_tokens == 55
                    && u.input_audio_tokens == 60
            }
            (
                "response.done",
                ServerEvent::ResponseDone {
                    status: ResponseStatus::Cancelled,
                    reason,
                    ..
                },
            ) => reason.as_deref() == Some("turn_detected"),
            ("conversation.item.truncated", ServerEvent::ItemTruncated { audio_end_ms, .. }) => {
                *audio_end_ms == 1480
            }
            (
                "error",
                ServerEvent::Error {
                    kind,
                    code,
                    event_id,
                    ..
                },
            ) => {
                kind == "invalid_request_error"
                    && code.as_deref() == Some("conversation_already_has_active_response")
                    && event_id.as_deref() == Some("evt_c9")
            }
            (_, ServerEvent::Other { kind: other }) => other == kind,
            _ => false,
        };
        assert!(ok, "{kind} parsed as {parsed:?}");
    }
}
