//! `frontdesk-relay`: the bare pass-through relay `frontdesk-load` measures
//! Frontdesk against (docs/benchmarks.md). No features: it answers the voice
//! webhook with a `<Stream>`, accepts the Twilio WebSocket, opens the model
//! WebSocket, asks for the greeting, and copies audio both ways — caller
//! `media` to `input_audio_buffer.append`, model `response.output_audio.delta`
//! to `media`, `speech_started` to `clear`. No signature checks, no marks, no
//! pacing, no state: what any Twilio-to-Realtime bridge must at least do, on
//! one tokio thread with tokio-tungstenite.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use frontdesk_sim::load::frame::str_field;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(
    name = "frontdesk-relay",
    about = "Bare Twilio <-> Realtime relay (benchmark baseline)"
)]
struct Args {
    /// Where to listen for the webhook and the stream.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The ws:// base the TwiML's `<Stream url>` names.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    public_ws: String,
    /// The model's WebSocket URL.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:9100/v1/realtime?model=gpt-realtime"
    )]
    model_url: String,
}

/// Same as the engine's model side: tungstenite zero-fills its read buffer.
const READ_BUFFER_BYTES: usize = 2 * 1024;
const MAX_HEAD_BYTES: usize = 16 * 1024;

const SESSION_UPDATE: &str = r#"{"type":"session.update","session":{"type":"realtime","output_modalities":["audio"],"audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":{"type":"server_vad"}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}}}}"#;
const GREET: &str = r#"{"type":"response.create"}"#;
const DELTA_PREFIX: &str = r#"{"type":"response.output_audio.delta""#;
const SPEECH_STARTED: &str = r#""type":"input_audio_buffer.speech_started""#;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("bind {}", args.listen))?;
    let twiml: &'static str = Box::leak(
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="{}/twilio/stream"/></Connect></Response>"#,
            args.public_ws.trim_end_matches('/')
        )
        .into_boxed_str(),
    );
    let model_url: &'static str = Box::leak(args.model_url.into_boxed_str());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            if let Err(e) = connection(stream, twiml, model_url).await {
                eprintln!("connection ended: {e}");
            }
        });
    }
}

/// Plain HTTP requests (the webhook, keep-alive) until a WebSocket upgrade,
/// which is handed to tungstenite with its head still unread.
async fn connection(mut stream: TcpStream, twiml: &str, model_url: &str) -> anyhow::Result<()> {
    let mut head = vec![0u8; MAX_HEAD_BYTES];
    loop {
        let n = stream.peek(&mut head).await?;
        if n == 0 {
            return Ok(());
        }
        let Some(end) = find(&head[..n], b"\r\n\r\n") else {
            if n == head.len() {
                anyhow::bail!("request head too large");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        if text.contains("upgrade: websocket") {
            return call(stream, model_url).await;
        }
        let body_len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut consume = vec![0u8; end + 4 + body_len];
        stream.read_exact(&mut consume).await?;
        let response = if text.starts_with("post /twilio/voice") {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{twiml}",
                twiml.len()
            )
        } else if text.starts_with("get /healthz") {
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string()
        } else {
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_string()
        };
        stream.write_all(response.as_bytes()).await?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn call(stream: TcpStream, model_url: &str) -> anyhow::Result<()> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let mut twilio = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (mut model, _) =
        tokio_tungstenite::connect_async_with_config(model_url, Some(config), true).await?;
    model.feed(Message::text(SESSION_UPDATE)).await?;
    model.send(Message::text(GREET)).await?;
    let mut stream_sid = String::new();
    let mut out = String::with_capacity(512);
    loop {
        tokio::select! {
            frame = twilio.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                };
                let text = text.as_str();
                match str_field(text, "event") {
                    Some("media") => {
                        let Some(payload) = str_field(text, "payload") else { continue };
                        out.clear();
                        out.push_str(r#"{"type":"input_audio_buffer.append","audio":""#);
                        out.push_str(payload);
                        out.push_str("\"}");
                        model.send(Message::text(out.as_str())).await?;
                    }
                    Some("start") => {
                        if let Some(sid) = str_field(text, "streamSid") {
                            stream_sid = sid.to_string();
                        }
                    }
                    Some("stop") => break,
                    _ => {}
                }
            }
            frame = model.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                };
                let text = text.as_str();
                out.clear();
                if text.starts_with(DELTA_PREFIX) {
                    let Some(delta) = str_field(text, "delta") else { continue };
                    out.push_str(r#"{"event":"media","streamSid":""#);
                    out.push_str(&stream_sid);
                    out.push_str(r#"","media":{"payload":""#);
                    out.push_str(delta);
                    out.push_str("\"}}");
                } else if text.contains(SPEECH_STARTED) {
                    out.push_str(r#"{"event":"clear","streamSid":""#);
                    out.push_str(&stream_sid);
                    out.push_str("\"}");
                } else {
                    continue;
                }
                twilio.send(Message::text(out.as_str())).await?;
            }
        }
    }
    let _ = model.close(None).await;
    let _ = twilio.close(None).await;
    Ok(())
}
