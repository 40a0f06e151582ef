//! Realtime client events (built as JSON text) and server events (parsed into
//! [`ServerEvent`]).
//!
//! Server events are parsed in a single pass into a flat struct whose fields
//! are the union of the fields the engine uses, then mapped by `type`. This
//! avoids `serde_json::Value` and serde's internally-tagged enums, both of
//! which would buffer the multi-kilobyte base64 audio of
//! `response.output_audio.delta` (tens of events per second per call).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use thiserror::Error;

// ---------------------------------------------------------------- client side

/// `input_audio_buffer.append`. Hot path (50 events per second per call):
/// formatted by hand into a pre-sized buffer.
pub fn input_audio_append_json(audio_b64: &str) -> String {
    const HEAD: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
    const TAIL: &str = r#""}"#;
    // Base64 never needs escaping; anything else goes through serde so that a
    // caller mistake still yields valid JSON.
    // No early exit: this form vectorises (it runs on every caller frame).
    let plain = audio_b64.bytes().fold(true, |ok, b| {
        ok & (b >= 0x20) & (b != b'"') & (b != b'\\') & (b < 0x7f)
    });
    if !plain {
        return json!({"type": "input_audio_buffer.append", "audio": audio_b64}).to_string();
    }
    let mut s = String::with_capacity(HEAD.len() + audio_b64.len() + TAIL.len());
    s.push_str(HEAD);
    s.push_str(audio_b64);
    s.push_str(TAIL);
    s
}

/// `conversation.item.create` with a `function_call_output` item.
pub fn function_call_output_json(call_id: &str, output: &str) -> String {
    json!({
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    })
    .to_string()
}

fn message_item_json(role: &str, content_type: &str, text: &str) -> String {
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": role,
            "content": [{"type": content_type, "text": text}],
        },
    })
    .to_string()
}

/// A user text message (e.g. replaying what the caller said after a reconnect).
pub fn user_text_item_json(text: &str) -> String {
    message_item_json("user", "input_text", text)
}

/// An assistant text message (replaying what the model said). Assistant
/// *audio* items cannot be created by clients, hence `output_text`.
pub fn assistant_text_item_json(text: &str) -> String {
    message_item_json("assistant", "output_text", text)
}

/// A system message (facts the engine learned, e.g. the caller's identity).
pub fn system_text_item_json(text: &str) -> String {
    message_item_json("system", "input_text", text)
}

/// `conversation.item.truncate`: cut an assistant audio item to what the caller heard.
pub fn truncate_json(item_id: &str, content_index: u32, audio_end_ms: u64) -> String {
    json!({
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    })
    .to_string()
}

/// `response.create`, optionally with per-response instructions and metadata
/// (at most 16 pairs are meaningful to the server; more are sent as given).
pub fn response_create_json(
    instructions: Option<&str>,
    metadata: Option<&[(&str, &str)]>,
) -> String {
    let mut response = Map::new();
    if let Some(text) = instructions {
        response.insert("instructions".into(), json!(text));
    }
    if let Some(pairs) = metadata {
        let m: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        response.insert("metadata".into(), Value::Object(m));
    }
    if response.is_empty() {
        return r#"{"type":"response.create"}"#.to_string();
    }
    json!({"type": "response.create", "response": Value::Object(response)}).to_string()
}

/// `response.cancel` for the in-progress response.
pub fn response_cancel_json() -> String {
    r#"{"type":"response.cancel"}"#.to_string()
}

// ---------------------------------------------------------------- server side

/// A server event, reduced to what the engine acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    SessionCreated {
        session_id: Option<String>,
    },
    SessionUpdated,
    SpeechStarted {
        audio_start_ms: u64,
        item_id: String,
    },
    SpeechStopped {
        audio_end_ms: u64,
        item_id: String,
    },
    Committed {
        item_id: String,
    },
    TimeoutTriggered {
        item_id: String,
    },
    InputTranscript {
        item_id: String,
        transcript: String,
    },
    InputTranscriptFailed {
        item_id: String,
        message: String,
    },
    ResponseCreated {
        response_id: String,
    },
    /// `response.output_audio.delta` (beta: `response.audio.delta`).
    AudioDelta {
        response_id: String,
        item_id: String,
        delta: String,
    },
    /// `response.output_audio.done` (beta: `response.audio.done`).
    AudioDone {
        response_id: String,
        item_id: String,
    },
    /// `response.output_audio_transcript.done` (beta: `response.audio_transcript.done`).
    AudioTranscriptDone {
        response_id: String,
        item_id: String,
        transcript: String,
    },
    OutputItemAdded {
        response_id: String,
        item: OutputItem,
    },
    FunctionCallArgumentsDone {
        response_id: String,
        item_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    ResponseDone {
        response_id: String,
        status: ResponseStatus,
        /// `status_details.reason`, e.g. `turn_detected`, `client_cancelled`, `max_output_tokens`.
        reason: Option<String>,
        /// Every `function_call` item of `response.output`.
        function_calls: Vec<FunctionCall>,
        usage: Option<Usage>,
        /// `status_details.error` of a failed response, as `code: message`.
        error: Option<String>,
    },
    ItemTruncated {
        item_id: String,
        audio_end_ms: u64,
    },
    Error {
        /// `error.type`, e.g. `invalid_request_error`, `server_error`.
        kind: String,
        code: Option<String>,
        message: String,
        param: Option<String>,
        event_id: Option<String>,
    },
    /// Any other event type, known or not (rate limits, item bookkeeping,
    /// content parts, transcript deltas, ...).
    Other {
        kind: String,
    },
}

/// An item of `response.output_item.added`.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputItem {
    Message {
        id: String,
        role: String,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    Other {
        kind: String,
        id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Completed,
    Cancelled,
    Failed,
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    pub call_id: String,
    pub name: String,
    /// JSON text, as produced by the model (may be invalid JSON).
    pub arguments: String,
    pub item_id: String,
}

/// Token usage of one response (missing counts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub input_audio_tokens: u64,
    pub output_audio_tokens: u64,
    pub cached_tokens: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    #[error("server event is not JSON: {0}")]
    NotJson(String),
    #[error("server event has no \"type\" string")]
    MissingType,
    #[error("malformed {kind} event: {reason}")]
    Malformed { kind: String, reason: String },
}

/// A string that borrows from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The union of the fields the engine reads, for one-pass parsing.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Str<'a>>,
    session: Option<RawSession>,
    audio_start_ms: Option<u64>,
    audio_end_ms: Option<u64>,
    item_id: Option<String>,
    response_id: Option<String>,
    delta: Option<String>,
    transcript: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
    error: Option<RawError>,
    response: Option<RawResponse>,
    item: Option<RawItem>,
}

#[derive(Deserialize)]
struct RawSession {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
    param: Option<String>,
    event_id: Option<String>,
}

#[derive(Deserialize)]
struct RawResponse {
    id: Option<String>,
    status: Option<String>,
    status_details: Option<RawStatusDetails>,
    output: Option<Vec<RawItem>>,
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
struct RawStatusDetails {
    reason: Option<String>,
    error: Option<RawError>,
}

#[derive(Deserialize)]
struct RawItem {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    role: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_token_details: Option<RawInputDetails>,
    output_token_details: Option<RawOutputDetails>,
}

#[derive(Deserialize)]
struct RawInputDetails {
    audio_tokens: Option<u64>,
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct RawOutputDetails {
    audio_tokens: Option<u64>,
}

/// Only the `type`, to classify a data error.
#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Event types mapped to a dedicated [`ServerEvent`] variant.
const MAPPED: &[&str] = &[
    "session.created",
    "session.updated",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "input_audio_buffer.timeout_triggered",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "response.created",
    "response.output_audio.delta",
    "response.audio.delta",
    "response.output_audio.done",
    "response.audio.done",
    "response.output_audio_transcript.done",
    "response.audio_transcript.done",
    "response.output_item.added",
    "response.function_call_arguments.done",
    "response.done",
    "conversation.item.truncated",
    "error",
];

/// Parse one server event. Unknown types become [`ServerEvent::Other`].
pub fn parse_server_event(text: &str) -> Result<ServerEvent, EventError> {
    match serde_json::from_str::<Raw<'_>>(text) {
        Ok(raw) => map_raw(raw),
        Err(e) if e.is_syntax() || e.is_eof() => Err(EventError::NotJson(e.to_string())),
        Err(e) => {
            // A field has an unexpected type. Whether that matters depends on
            // whether the event is one the engine acts on.
            match serde_json::from_str::<TypeOnly>(text) {
                Ok(TypeOnly { kind: Some(kind) }) if MAPPED.contains(&kind.as_str()) => {
                    Err(EventError::Malformed {
                        kind,
                        reason: e.to_string(),
                    })
                }
                Ok(TypeOnly { kind: Some(kind) }) => Ok(ServerEvent::Other { kind }),
                _ => Err(EventError::MissingType),
            }
        }
    }
}

fn need<T>(v: Option<T>, kind: &str, field: &str) -> Result<T, EventError> {
    v.ok_or_else(|| EventError::Malformed {
        kind: kind.to_string(),
        reason: format!("missing {field}"),
    })
}

fn map_raw(raw: Raw<'_>) -> Result<ServerEvent, EventError> {
    let Some(Str(kind)) = raw.kind else {
        return Err(EventError::MissingType);
    };
    let k: &str = &kind;
    let ev = match k {
        "session.created" => ServerEvent::SessionCreated {
            session_id: need(raw.session, k, "session")?.id,
        },
        "session.updated" => ServerEvent::SessionUpdated,
        "input_audio_buffer.speech_started" => ServerEvent::SpeechStarted {
            audio_start_ms: need(raw.audio_start_ms, k, "audio_start_ms")?,
            item_id: need(raw.item_id, k, "item_id")?,
        },
        "input_audio_buffer.speech_stopped" => ServerEvent::SpeechStopped {
            audio_end_ms: need(raw.audio_end_ms, k, "audio_end_ms")?,
            item_id: need(raw.item_id, k, "item_id")?,
        },
        "input_audio_buffer.committed" => ServerEvent::Committed {
            item_id: need(raw.item_id, k, "item_id")?,
        },
        "input_audio_buffer.timeout_triggered" => ServerEvent::TimeoutTriggered {
            item_id: need(raw.item_id, k, "item_id")?,
        },
        "conversation.item.input_audio_transcription.completed" => ServerEvent::InputTranscript {
            item_id: need(raw.item_id, k, "item_id")?,
            transcript: need(raw.transcript, k, "transcript")?,
        },
        "conversation.item.input_audio_transcription.failed" => {
            ServerEvent::InputTranscriptFailed {
                item_id: need(raw.item_id, k, "item_id")?,
                message: need(raw.error, k, "error")?.message.unwrap_or_default(),
            }
        }
        "response.created" => ServerEvent::ResponseCreated {
            response_id: need(need(raw.response, k, "response")?.id, k, "response.id")?,
        },
        "response.output_audio.delta" | "response.audio.delta" => ServerEvent::AudioDelta {
            response_id: need(raw.response_id, k, "response_id")?,
            item_id: need(raw.item_id, k, "item_id")?,
            delta: need(raw.delta, k, "delta")?,
        },
        "response.output_audio.done" | "response.audio.done" => ServerEvent::AudioDone {
            response_id: need(raw.response_id, k, "response_id")?,
            item_id: need(raw.item_id, k, "item_id")?,
        },
        "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
            ServerEvent::AudioTranscriptDone {
                response_id: need(raw.response_id, k, "response_id")?,
                item_id: need(raw.item_id, k, "item_id")?,
                transcript: need(raw.transcript, k, "transcript")?,
            }
        }
        "response.output_item.added" => ServerEvent::OutputItemAdded {
            response_id: need(raw.response_id, k, "response_id")?,
            item: output_item(need(raw.item, k, "item")?, k)?,
        },
        "response.function_call_arguments.done" => ServerEvent::FunctionCallArgumentsDone {
            response_id: need(raw.response_id, k, "response_id")?,
            item_id: need(raw.item_id, k, "item_id")?,
            call_id: need(raw.call_id, k, "call_id")?,
            name: need(raw.name, k, "name")?,
            arguments: need(raw.arguments, k, "arguments")?,
        },
        "response.done" => response_done(need(raw.response, k, "response")?, k)?,
        "conversation.item.truncated" => ServerEvent::ItemTruncated {
            item_id: need(raw.item_id, k, "item_id")?,
            audio_end_ms: need(raw.audio_end_ms, k, "audio_end_ms")?,
        },
        "error" => {
            let e = need(raw.error, k, "error")?;
            ServerEvent::Error {
                kind: need(e.kind, k, "error.type")?,
                message: need(e.message, k, "error.message")?,
                code: e.code,
                param: e.param,
                event_id: e.event_id,
            }
        }
        _ => ServerEvent::Other {
            kind: kind.into_owned(),
        },
    };
    Ok(ev)
}

fn output_item(item: RawItem, k: &str) -> Result<OutputItem, EventError> {
    Ok(match item.kind.as_deref() {
        Some("message") => OutputItem::Message {
            id: need(item.id, k, "item.id")?,
            role: need(item.role, k, "item.role")?,
        },
        Some("function_call") => OutputItem::FunctionCall {
            id: need(item.id, k, "item.id")?,
            call_id: need(item.call_id, k, "item.call_id")?,
            name: need(item.name, k, "item.name")?,
            arguments: item.arguments.unwrap_or_default(),
        },
        Some(other) => OutputItem::Other {
            kind: other.to_string(),
            id: item.id,
        },
        None => {
            return Err(EventError::Malformed {
                kind: k.to_string(),
                reason: "missing item.type".to_string(),
            })
        }
    })
}

fn response_done(r: RawResponse, k: &str) -> Result<ServerEvent, EventError> {
    let response_id = need(r.id, k, "response.id")?;
    let status = match need(r.status, k, "response.status")?.as_str() {
        "completed" => ResponseStatus::Completed,
        "cancelled" => ResponseStatus::Cancelled,
        "failed" => ResponseStatus::Failed,
        "incomplete" => ResponseStatus::Incomplete,
        other => {
            return Err(EventError::Malformed {
                kind: k.to_string(),
                reason: format!("unexpected response.status {other:?}"),
            })
        }
    };
    let (reason, error) = match r.status_details {
        Some(d) => (
            d.reason,
            d.error.map(|e| match (e.code, e.message) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code,
                (None, Some(msg)) => msg,
                (None, None) => e.kind.unwrap_or_else(|| "unknown error".to_string()),
            }),
        ),
        None => (None, None),
    };
    let mut function_calls = Vec::new();
    for item in r.output.unwrap_or_default() {
        if item.kind.as_deref() == Some("function_call") {
            function_calls.push(FunctionCall {
                call_id: need(item.call_id, k, "output[].call_id")?,
                name: need(item.name, k, "output[].name")?,
                arguments: item.arguments.unwrap_or_default(),
                item_id: item.id.unwrap_or_default(),
            });
        }
    }
    let usage = r.usage.map(|u| Usage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
        total_tokens: u.total_tokens.unwrap_or(0),
        input_audio_tokens: u
            .input_token_details
            .as_ref()
            .and_then(|d| d.audio_tokens)
            .unwrap_or(0),
        cached_tokens: u
            .input_token_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
        output_audio_tokens: u
            .output_token_details
            .and_then(|d| d.audio_tokens)
            .unwrap_or(0),
    });
    Ok(ServerEvent::ResponseDone {
        response_id,
        status,
        reason,
        function_calls,
        usage,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServerEvent {
        parse_server_event(s).unwrap()
    }

    #[test]
    fn append_is_exact_json() {
        let s = input_audio_append_json("/////w==");
        assert_eq!(
            s,
            r#"{"type":"input_audio_buffer.append","audio":"/////w=="}"#
        );
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["audio"], "/////w==");
        // Not base64: still valid JSON.
        let odd = input_audio_append_json("a\"b\\c\n");
        let v: Value = serde_json::from_str(&odd).unwrap();
        assert_eq!(v["audio"], "a\"b\\c\n");
    }

    #[test]
    fn client_builders() {
        let v: Value =
            serde_json::from_str(&function_call_output_json("call_1", "{\"ok\":true}")).unwrap();
        assert_eq!(v["item"]["type"], "function_call_output");
        assert_eq!(v["item"]["call_id"], "call_1");
        assert_eq!(v["item"]["output"], "{\"ok\":true}");
        let v: Value = serde_json::from_str(&assistant_text_item_json("hi")).unwrap();
        assert_eq!(v["item"]["role"], "assistant");
        assert_eq!(v["item"]["content"][0]["type"], "output_text");
        let v: Value = serde_json::from_str(&user_text_item_json("yo")).unwrap();
        assert_eq!(
            v["item"]["content"][0],
            json!({"type":"input_text","text":"yo"})
        );
        let v: Value = serde_json::from_str(&system_text_item_json("sys")).unwrap();
        assert_eq!(v["item"]["role"], "system");
        let v: Value = serde_json::from_str(&truncate_json("item_1", 0, 1480)).unwrap();
        assert_eq!(
            v,
            json!({"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":1480})
        );
        assert_eq!(
            response_create_json(None, None),
            r#"{"type":"response.create"}"#
        );
        let v: Value = serde_json::from_str(&response_create_json(
            Some("Greet"),
            Some(&[("purpose", "greeting")]),
        ))
        .unwrap();
        assert_eq!(v["response"]["instructions"], "Greet");
        assert_eq!(v["response"]["metadata"]["purpose"], "greeting");
        assert_eq!(response_cancel_json(), r#"{"type":"response.cancel"}"#);
    }

    #[test]
    fn audio_delta_ga_and_beta() {
        let ga = r#"{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"AAAA"}"#;
        let want = ServerEvent::AudioDelta {
            response_id: "r".into(),
            item_id: "i".into(),
            delta: "AAAA".into(),
        };
        assert_eq!(parse(ga), want);
        assert_eq!(parse(&ga.replace("output_audio", "audio")), want);
        // An escaped slash (legal JSON) still decodes.
        let esc = r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"A\/A="}"#;
        assert!(matches!(parse(esc), ServerEvent::AudioDelta { delta, .. } if delta == "A/A="));
    }

    #[test]
    fn beta_transcript_done_maps() {
        let s = r#"{"type":"response.audio_transcript.done","response_id":"r","item_id":"i","transcript":"Hi"}"#;
        assert_eq!(
            parse(s),
            ServerEvent::AudioTranscriptDone {
                response_id: "r".into(),
                item_id: "i".into(),
                transcript: "Hi".into()
            }
        );
        assert_eq!(
            parse(r#"{"type":"response.audio.done","response_id":"r","item_id":"i"}"#),
            ServerEvent::AudioDone {
                response_id: "r".into(),
                item_id: "i".into()
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"conversation.item.created","item":{"id":"x","type":"message","role":"user","content":[]}}"#
            ),
            ServerEvent::Other {
                kind: "conversation.item.created".into()
            }
        );
    }

    #[test]
    fn response_done_with_function_call_and_usage() {
        let s = r#"{"type":"response.done","event_id":"e","response":{"id":"resp_2","object":"realtime.response","status":"completed","status_details":null,"output":[{"id":"item_fc","object":"realtime.item","type":"function_call","status":"completed","name":"lookup","call_id":"call_1","arguments":"{\"a\":1}"},{"id":"m","type":"message","role":"assistant","content":[{"type":"output_audio","transcript":"x"}]}],"usage":{"total_tokens":10,"input_tokens":7,"output_tokens":3,"input_token_details":{"audio_tokens":5,"cached_tokens":2},"output_token_details":{"audio_tokens":1}}}}"#;
        match parse(s) {
            ServerEvent::ResponseDone {
                response_id,
                status,
                reason,
                function_calls,
                usage,
                error,
            } => {
                assert_eq!(response_id, "resp_2");
                assert_eq!(status, ResponseStatus::Completed);
                assert_eq!(reason, None);
                assert_eq!(error, None);
                assert_eq!(
                    function_calls,
                    vec![FunctionCall {
                        call_id: "call_1".into(),
                        name: "lookup".into(),
                        arguments: "{\"a\":1}".into(),
                        item_id: "item_fc".into()
                    }]
                );
                assert_eq!(
                    usage,
                    Some(Usage {
                        input_tokens: 7,
                        output_tokens: 3,
                        total_tokens: 10,
                        input_audio_tokens: 5,
                        output_audio_tokens: 1,
                        cached_tokens: 2
                    })
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn response_done_failed_and_cancelled() {
        let s = r#"{"type":"response.done","response":{"id":"r","status":"failed","status_details":{"type":"failed","error":{"type":"server_error","code":"boom","message":"it broke"}}}}"#;
        assert!(
            matches!(parse(s), ServerEvent::ResponseDone { status: ResponseStatus::Failed, error: Some(e), .. } if e == "boom: it broke")
        );
        let s = r#"{"type":"response.done","response":{"id":"r","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"output":[]}}"#;
        assert!(
            matches!(parse(s), ServerEvent::ResponseDone { status: ResponseStatus::Cancelled, reason: Some(r), .. } if r == "turn_detected")
        );
    }

    #[test]
    fn error_event() {
        let s = r#"{"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"x","message":"m","param":null,"event_id":"evt_1"}}"#;
        assert_eq!(
            parse(s),
            ServerEvent::Error {
                kind: "invalid_request_error".into(),
                code: Some("x".into()),
                message: "m".into(),
                param: None,
                event_id: Some("evt_1".into())
            }
        );
    }

    #[test]
    fn output_item_added_variants() {
        let s = r#"{"type":"response.output_item.added","response_id":"r","output_index":0,"item":{"id":"fc","type":"function_call","name":"n","call_id":"c","arguments":""}}"#;
        assert_eq!(
            parse(s),
            ServerEvent::OutputItemAdded {
                response_id: "r".into(),
                item: OutputItem::FunctionCall {
                    id: "fc".into(),
                    call_id: "c".into(),
                    name: "n".into(),
                    arguments: "".into()
                }
            }
        );
        let s = r#"{"type":"response.output_item.added","response_id":"r","item":{"id":"x","type":"mcp_call","name":"n","arguments":"","server_label":"s"}}"#;
        assert!(
            matches!(parse(s), ServerEvent::OutputItemAdded { item: OutputItem::Other { kind, .. }, .. } if kind == "mcp_call")
        );
    }

    #[test]
    fn unknown_type_is_other() {
        assert_eq!(
            parse(r#"{"type":"brand.new","x":[1,2]}"#),
            ServerEvent::Other {
                kind: "brand.new".into()
            }
        );
        // A field the engine reads elsewhere, with another type, in an event it ignores.
        assert_eq!(
            parse(r#"{"type":"brand.new","item_id":5}"#),
            ServerEvent::Other {
                kind: "brand.new".into()
            }
        );
        assert_eq!(
            parse(r#"{"type":"rate_limits.updated","event_id":"e","rate_limits":[]}"#),
            ServerEvent::Other {
                kind: "rate_limits.updated".into()
            }
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_server_event("nope"),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            parse_server_event("{\"type\":"),
            Err(EventError::NotJson(_))
        ));
        assert_eq!(parse_server_event("{}"), Err(EventError::MissingType));
        assert_eq!(parse_server_event("[1]"), Err(EventError::MissingType));
        assert_eq!(
            parse_server_event(r#"{"type":7}"#),
            Err(EventError::MissingType)
        );
        let e = parse_server_event(
            r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            EventError::Malformed {
                kind: "response.output_audio.delta".into(),
                reason: "missing delta".into()
            }
        );
        let e = parse_server_event(
            r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":"x","item_id":"i"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, EventError::Malformed { kind, .. } if kind == "input_audio_buffer.speech_started")
        );
        let e = parse_server_event(
            r#"{"type":"response.done","response":{"id":"r","status":"in_progress"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, EventError::Malformed { reason, .. } if reason.contains("in_progress"))
        );
        let e = parse_server_event(r#"{"type":"error","error":{"message":"m"}}"#).unwrap_err();
        assert!(
            matches!(e, EventError::Malformed { ref reason, .. } if reason.contains("error.type"))
        );
        assert!(e.to_string().contains("error"));
    }

    #[test]
    fn session_and_vad_events() {
        let s = r#"{"type":"session.created","event_id":"e","session":{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime"}}"#;
        assert_eq!(
            parse(s),
            ServerEvent::SessionCreated {
                session_id: Some("sess_1".into())
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":1200,"item_id":"u1"}"#
            ),
            ServerEvent::SpeechStarted {
                audio_start_ms: 1200,
                item_id: "u1".into()
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"input_audio_buffer.committed","item_id":"u1","previous_item_id":null}"#
            ),
            ServerEvent::Committed {
                item_id: "u1".into()
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"conversation.item.input_audio_transcription.failed","item_id":"u1","content_index":0,"error":{"type":"transcription_error","message":"bad"}}"#
            ),
            ServerEvent::InputTranscriptFailed {
                item_id: "u1".into(),
                message: "bad".into()
            }
        );
    }
}
