//! Session configuration (`session.update`) and the Realtime connection URL.

use serde_json::{json, Map, Value};
use thiserror::Error;
use url::Url;

/// Audio format of one direction of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// G.711 µ-law, 8 kHz: what Twilio Media Streams carry, so audio can pass through untouched.
    Pcmu,
    /// PCM16 little-endian, 24 kHz mono (the only PCM rate the API accepts).
    Pcm24k,
}

impl AudioFormat {
    /// The GA format object, e.g. `{"type":"audio/pcmu"}`.
    pub fn to_json(self) -> Value {
        match self {
            AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
            AudioFormat::Pcm24k => json!({"type": "audio/pcm", "rate": 24000}),
        }
    }

    /// Bytes of audio per millisecond (8 for µ-law 8 kHz, 48 for PCM16 24 kHz).
    pub fn bytes_per_ms(self) -> usize {
        match self {
            AudioFormat::Pcmu => 8,
            AudioFormat::Pcm24k => 48,
        }
    }
}

/// How the server decides that the caller finished a turn.
///
/// Frontdesk always lets the server create the response and interrupt it on
/// barge-in (`create_response` and `interrupt_response` are sent as `true`):
/// the engine only has to truncate what the caller did not hear.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnDetection {
    ServerVad {
        threshold: f32,
        prefix_padding_ms: u32,
        silence_duration_ms: u32,
        idle_timeout_ms: Option<u32>,
    },
    SemanticVad {
        /// `low | medium | high | auto`.
        eagerness: String,
    },
}

impl TurnDetection {
    fn to_json(&self) -> Value {
        match self {
            TurnDetection::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
                idle_timeout_ms,
            } => {
                let mut v = json!({
                    "type": "server_vad",
                    "threshold": threshold,
                    "prefix_padding_ms": prefix_padding_ms,
                    "silence_duration_ms": silence_duration_ms,
                    "create_response": true,
                    "interrupt_response": true,
                });
                if let (Some(ms), Some(obj)) = (idle_timeout_ms, v.as_object_mut()) {
                    obj.insert("idle_timeout_ms".into(), json!(ms));
                }
                v
            }
            TurnDetection::SemanticVad { eagerness } => json!({
                "type": "semantic_vad",
                "eagerness": eagerness,
                "create_response": true,
                "interrupt_response": true,
            }),
        }
    }
}

/// A function tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Everything the engine configures on a model session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionParams {
    pub model: String,
    pub instructions: String,
    pub voice: String,
    /// Used for both input and output: the bridge never mixes formats.
    pub format: AudioFormat,
    pub turn_detection: TurnDetection,
    /// Caller-side transcription model; `None` leaves transcription off.
    pub transcription_model: Option<String>,
    /// ISO-639-1 hint for the transcription model.
    pub transcription_language: Option<String>,
    /// `near_field` or `far_field`; `None` leaves noise reduction off.
    pub noise_reduction: Option<String>,
    pub tools: Vec<ToolSpec>,
    /// Per-response cap; `None` keeps the server default (`inf`).
    pub max_output_tokens: Option<u32>,
}

/// The `session.update` client event for `p`, in the GA shape.
///
/// Tools are always sent (an empty list clears tools left over from an
/// earlier update); optional features that are off are omitted so that the
/// server defaults (off) apply.
pub fn session_update_json(p: &SessionParams) -> String {
    json!({ "type": "session.update", "session": session_object(p, true) }).to_string()
}

/// SIP connector: the session without audio formats (the codec is
/// negotiated by SIP/SDP and the audio never reaches us), for the
/// `accept` body and the sideband socket's `session.update`.
pub fn sip_session(p: &SessionParams) -> Value {
    session_object(p, false)
}

pub fn sip_session_update_json(p: &SessionParams) -> String {
    json!({ "type": "session.update", "session": sip_session(p) }).to_string()
}

fn session_object(p: &SessionParams, with_format: bool) -> Value {
    let mut input = Map::new();
    if with_format {
        input.insert("format".into(), p.format.to_json());
    }
    input.insert("turn_detection".into(), p.turn_detection.to_json());
    if let Some(model) = &p.transcription_model {
        let mut t = Map::new();
        t.insert("model".into(), json!(model));
        if let Some(lang) = &p.transcription_language {
            t.insert("language".into(), json!(lang));
        }
        input.insert("transcription".into(), Value::Object(t));
    }
    if let Some(kind) = &p.noise_reduction {
        input.insert("noise_reduction".into(), json!({ "type": kind }));
    }

    let tools: Vec<Value> = p
        .tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            })
        })
        .collect();

    let mut session = Map::new();
    session.insert("type".into(), json!("realtime"));
    session.insert("model".into(), json!(p.model));
    session.insert("output_modalities".into(), json!(["audio"]));
    session.insert("instructions".into(), json!(p.instructions));
    let mut output = Map::new();
    if with_format {
        output.insert("format".into(), p.format.to_json());
    }
    output.insert("voice".into(), json!(p.voice));
    session.insert(
        "audio".into(),
        json!({
            "input": Value::Object(input),
            "output": Value::Object(output),
        }),
    );
    session.insert("tools".into(), Value::Array(tools));
    session.insert("tool_choice".into(), json!("auto"));
    if let Some(max) = p.max_output_tokens {
        session.insert("max_output_tokens".into(), json!(max));
    }
    Value::Object(session)
}

/// Why a Realtime URL could not be built.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("invalid base URL {url:?}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("unsupported scheme {0:?} in base URL (expected http, https, ws or wss)")]
    Scheme(String),
}

/// The WebSocket URL for `model`, derived from an HTTP API base URL the way
/// the official SDK does it: `http`→`ws`, `https`→`wss`, `/realtime` appended
/// to the base path, `model` added to the query (other query pairs are kept).
pub fn realtime_url(base_url: &str, model: &str) -> Result<Url, UrlError> {
    let mut url = Url::parse(base_url).map_err(|e| UrlError::Invalid {
        url: base_url.to_string(),
        reason: e.to_string(),
    })?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(UrlError::Scheme(other.to_string())),
    };
    // `Url::set_scheme` refuses special→special changes only for file-like
    // schemes; http↔ws is allowed, so a failure here means a malformed URL.
    url.set_scheme(scheme).map_err(|()| UrlError::Invalid {
        url: base_url.to_string(),
        reason: format!("cannot use scheme {scheme}"),
    })?;
    let path = format!("{}/realtime", url.path().trim_end_matches('/'));
    url.set_path(&path);

    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "model")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("model", model);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(format: AudioFormat) -> SessionParams {
        SessionParams {
            model: "gpt-realtime".into(),
            instructions: "Be brief.".into(),
            voice: "marin".into(),
            format,
            turn_detection: TurnDetection::ServerVad {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: 500,
                idle_timeout_ms: Some(8000),
            },
            transcription_model: Some("gpt-4o-transcribe".into()),
            transcription_language: Some("en".into()),
            noise_reduction: Some("near_field".into()),
            tools: vec![ToolSpec {
                name: "lookup_order".into(),
                description: "Look up an order".into(),
                parameters: json!({"type":"object","properties":{"order_id":{"type":"string"}}}),
            }],
            max_output_tokens: Some(1024),
        }
    }

    #[test]
    fn session_update_has_ga_shape() {
        let v: Value =
            serde_json::from_str(&session_update_json(&params(AudioFormat::Pcmu))).unwrap();
        assert_eq!(v["type"], "session.update");
        let s = &v["session"];
        assert_eq!(s["type"], "realtime");
        assert_eq!(s["model"], "gpt-realtime");
        assert_eq!(s["output_modalities"], json!(["audio"]));
        assert_eq!(s["tool_choice"], "auto");
        assert_eq!(s["max_output_tokens"], 1024);
        assert_eq!(s["audio"]["input"]["format"], json!({"type":"audio/pcmu"}));
        assert_eq!(s["audio"]["output"]["format"], json!({"type":"audio/pcmu"}));
        assert_eq!(s["audio"]["output"]["voice"], "marin");
        let td = &s["audio"]["input"]["turn_detection"];
        assert_eq!(td["type"], "server_vad");
        assert_eq!(td["threshold"], 0.5);
        assert_eq!(td["silence_duration_ms"], 500);
        assert_eq!(td["idle_timeout_ms"], 8000);
        assert_eq!(td["create_response"], true);
        assert_eq!(td["interrupt_response"], true);
        assert_eq!(
            s["audio"]["input"]["transcription"],
            json!({"model":"gpt-4o-transcribe","language":"en"})
        );
        assert_eq!(
            s["audio"]["input"]["noise_reduction"],
            json!({"type":"near_field"})
        );
        assert_eq!(s["tools"][0]["type"], "function");
        assert_eq!(s["tools"][0]["name"], "lookup_order");
        // Beta-era keys must never appear.
        for beta in [
            "modalities",
            "voice",
            "input_audio_format",
            "turn_detection",
            "temperature",
        ] {
            assert!(s.get(beta).is_none(), "beta key {beta} present");
        }
    }

    #[test]
    fn optional_features_are_omitted() {
        let mut p = params(AudioFormat::Pcm24k);
        p.transcription_model = None;
        p.noise_reduction = None;
        p.max_output_tokens = None;
        p.tools.clear();
        p.turn_detection = TurnDetection::SemanticVad {
            eagerness: "low".into(),
        };
        let v: Value = serde_json::from_str(&session_update_json(&p)).unwrap();
        let s = &v["session"];
        assert_eq!(
            s["audio"]["input"]["format"],
            json!({"type":"audio/pcm","rate":24000})
        );
        assert!(s["audio"]["input"].get("transcription").is_none());
        assert!(s["audio"]["input"].get("noise_reduction").is_none());
        assert!(s.get("max_output_tokens").is_none());
        assert_eq!(s["tools"], json!([]));
        assert_eq!(
            s["audio"]["input"]["turn_detection"],
            json!({"type":"semantic_vad","eagerness":"low","create_response":true,"interrupt_response":true})
        );
    }

    #[test]
    fn server_vad_without_idle_timeout_omits_it() {
        let mut p = params(AudioFormat::Pcmu);
        p.turn_detection = TurnDetection::ServerVad {
            threshold: 0.6,
            prefix_padding_ms: 200,
            silence_duration_ms: 400,
            idle_timeout_ms: None,
        };
        let v: Value = serde_json::from_str(&session_update_json(&p)).unwrap();
        let td = &v["session"]["audio"]["input"]["turn_detection"];
        assert!(td.get("idle_timeout_ms").is_none());
        assert!((td["threshold"].as_f64().unwrap() - 0.6).abs() < 1e-6);
    }

    #[test]
    fn url_like_the_sdk() {
        assert_eq!(
            realtime_url("https://api.openai.com/v1", "gpt-realtime")
                .unwrap()
                .as_str(),
            "wss://api.openai.com/v1/realtime?model=gpt-realtime"
        );
        assert_eq!(
            realtime_url("http://127.0.0.1:9000/v1/", "x")
                .unwrap()
                .as_str(),
            "ws://127.0.0.1:9000/v1/realtime?model=x"
        );
        assert_eq!(
            realtime_url("wss://proxy.example/openai/v1", "m")
                .unwrap()
                .as_str(),
            "wss://proxy.example/openai/v1/realtime?model=m"
        );
        assert_eq!(
            realtime_url("https://h/v1?api-version=2&model=old", "m")
                .unwrap()
                .as_str(),
            "wss://h/v1/realtime?api-version=2&model=m"
        );
        assert_eq!(
            realtime_url("https://h", "a b").unwrap().as_str(),
            "wss://h/realtime?model=a+b"
        );
    }

    #[test]
    fn url_errors() {
        assert!(matches!(realtime_url("ftp://h/v1", "m"), Err(UrlError::Scheme(s)) if s == "ftp"));
        assert!(matches!(
            realtime_url("not a url", "m"),
            Err(UrlError::Invalid { .. })
        ));
    }

    #[test]
    fn bytes_per_ms() {
        assert_eq!(AudioFormat::Pcmu.bytes_per_ms(), 8);
        assert_eq!(AudioFormat::Pcm24k.bytes_per_ms(), 48);
    }
}
