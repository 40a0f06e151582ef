//! Server events of the GA protocol, as JSON. `event_id` is added when sent.
//! Only keys the official SDK declares are used (the conformance test checks).

use serde_json::{json, Value};

pub(crate) fn error(
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
    event_id: Option<&str>,
) -> Value {
    json!({
        "type": "error",
        "error": {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id},
    })
}

pub(crate) fn speech_started(audio_start_ms: u64, item_id: &str) -> Value {
    json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": item_id})
}

pub(crate) fn speech_stopped(audio_end_ms: u64, item_id: &str) -> Value {
    json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": item_id})
}

pub(crate) fn committed(item_id: &str, previous: Option<&str>) -> Value {
    json!({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
}

pub(crate) fn timeout_triggered(audio_start_ms: u64, audio_end_ms: u64, item_id: &str) -> Value {
    json!({
        "type": "input_audio_buffer.timeout_triggered",
        "audio_start_ms": audio_start_ms,
        "audio_end_ms": audio_end_ms,
        "item_id": item_id,
    })
}

pub(crate) fn cleared() -> Value {
    json!({"type": "input_audio_buffer.cleared"})
}

/// `conversation.item.added` or `conversation.item.done`.
pub(crate) fn item_event(kind: &str, item: &Value, previous: Option<&str>) -> Value {
    json!({"type": kind, "item": item, "previous_item_id": previous})
}

pub(crate) fn item_deleted(item_id: &str) -> Value {
    json!({"type": "conversation.item.deleted", "item_id": item_id})
}

pub(crate) fn item_retrieved(item: &Value) -> Value {
    json!({"type": "conversation.item.retrieved", "item": item})
}

pub(crate) fn truncated(item_id: &str, content_index: u64, audio_end_ms: u64) -> Value {
    json!({
        "type": "conversation.item.truncated",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    })
}

/// A committed caller audio message. The transcript arrives separately.
pub(crate) fn user_audio_item(id: &str) -> Value {
    json!({
        "id": id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
        "content": [{"type": "input_audio", "transcript": null}],
    })
}

/// An assistant audio message; no content while it is being generated.
pub(crate) fn assistant_item(id: &str, status: &str, transcript: Option<&str>) -> Value {
    let content = match transcript {
        Some(t) => json!([{"type": "output_audio", "transcript": t}]),
        None => json!([]),
    };
    json!({
        "id": id, "object": "realtime.item", "type": "message", "status": status, "role": "assistant",
        "content": content,
    })
}

pub(crate) fn function_call_item(
    id: &str,
    status: &str,
    name: &str,
    call_id: &str,
    arguments: &str,
) -> Value {
    json!({
        "id": id, "object": "realtime.item", "type": "function_call", "status": status,
        "name": name, "call_id": call_id, "arguments": arguments,
    })
}

pub(crate) fn transcription_completed(item_id: &str, transcript: &str, audio_tokens: u64) -> Value {
    let text_tokens = transcript.len() as u64 / 4 + 1;
    json!({
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
        "usage": {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "output_tokens": text_tokens,
            "total_tokens": audio_tokens + text_tokens,
            "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
        },
    })
}

pub(crate) fn rate_limits(tokens_remaining: u64) -> Value {
    json!({
        "type": "rate_limits.updated",
        "rate_limits": [
            {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 40000, "remaining": tokens_remaining, "reset_seconds": 1.5},
        ],
    })
}

/// Token accounting of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub input_text: u64,
    pub input_audio: u64,
    pub cached: u64,
    pub output_text: u64,
    pub output_audio: u64,
}

impl Tokens {
    pub(crate) fn to_json(self) -> Value {
        let input = self.input_text + self.input_audio;
        let output = self.output_text + self.output_audio;
        let cached_audio = self.cached.min(self.input_audio);
        json!({
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": self.cached,
                "cached_tokens_details": {
                    "text_tokens": self.cached - cached_audio,
                    "audio_tokens": cached_audio,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": self.output_text, "audio_tokens": self.output_audio},
        })
    }
}

/// The `response` object of `response.created` / `response.done`.
pub(crate) struct ResponseObj<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub status: &'a str,
    /// `(type, reason)` of `status_details`.
    pub details: Option<(&'a str, &'a str)>,
    pub output: Vec<Value>,
    pub usage: Option<Tokens>,
    pub format: Value,
    pub voice: &'a str,
    pub max_output_tokens: Value,
    pub metadata: Value,
}

impl ResponseObj<'_> {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "realtime.response",
            "status": self.status,
            "status_details": self.details.map(|(kind, reason)| json!({"type": kind, "reason": reason})),
            "output": self.output,
            "conversation_id": self.conversation_id,
            "output_modalities": ["audio"],
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": self.format, "voice": self.voice}},
            "usage": self.usage.map(Tokens::to_json),
            "metadata": self.metadata,
        })
    }
}

pub(crate) fn response_event(kind: &str, response: &ResponseObj<'_>) -> Value {
    json!({"type": kind, "response": response.to_json()})
}

/// `response.output_item.added` / `.done`.
pub(crate) fn output_item(kind: &str, response_id: &str, item: &Value) -> Value {
    json!({"type": kind, "response_id": response_id, "output_index": 0, "item": item})
}

/// `response.content_part.added` / `.done` of the audio part.
pub(crate) fn content_part(
    kind: &str,
    response_id: &str,
    item_id: &str,
    transcript: &str,
) -> Value {
    json!({
        "type": kind, "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0,
        "part": {"type": "audio", "transcript": transcript},
    })
}

/// Events addressed to one content part: audio/transcript deltas and dones.
/// `extra` is `("delta", ..)`, `("transcript", ..)` or nothing.
pub(crate) fn part_event(
    kind: &str,
    response_id: &str,
    item_id: &str,
    extra: Option<(&str, &str)>,
) -> Value {
    let mut v = json!({
        "type": kind, "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0,
    });
    if let (Some((k, text)), Some(obj)) = (extra, v.as_object_mut()) {
        obj.insert(k.to_string(), json!(text));
    }
    v
}

pub(crate) fn function_args_delta(
    response_id: &str,
    item_id: &str,
    call_id: &str,
    delta: &str,
) -> Value {
    json!({
        "type": "response.function_call_arguments.delta", "response_id": response_id, "item_id": item_id,
        "output_index": 0, "call_id": call_id, "delta": delta,
    })
}

pub(crate) fn function_args_done(
    response_id: &str,
    item_id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
) -> Value {
    json!({
        "type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id,
        "output_index": 0, "call_id": call_id, "name": name, "arguments": arguments,
    })
}

pub(crate) fn session_event(kind: &str, session: &serde_json::Map<String, Value>) -> Value {
    json!({"type": kind, "session": session})
}
