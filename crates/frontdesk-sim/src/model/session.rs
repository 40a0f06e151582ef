//! The simulated session: its GA session object, `session.update` validation
//! and merging, and the settings the simulator acts on.

use serde_json::{json, Map, Value};

use super::audio::Fmt;
use super::vad::VadConfig;

/// A client mistake, reported as an `invalid_request_error` event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
}

impl Rejection {
    pub(crate) fn new(code: &'static str, message: impl Into<String>, param: Option<&str>) -> Self {
        Rejection {
            code,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    fn unknown(path: &str) -> Self {
        Rejection::new(
            "unknown_parameter",
            format!("Unknown parameter: '{path}'."),
            Some(path),
        )
    }

    fn invalid(path: &str, why: &str) -> Self {
        Rejection::new(
            "invalid_value",
            format!("Invalid value for '{path}': {why}"),
            Some(path),
        )
    }
}

const SESSION_KEYS: &[&str] = &[
    "type",
    "audio",
    "include",
    "instructions",
    "max_output_tokens",
    "model",
    "output_modalities",
    "parallel_tool_calls",
    "prompt",
    "reasoning",
    "tool_choice",
    "tools",
    "tracing",
    "truncation",
];
const INPUT_KEYS: &[&str] = &[
    "format",
    "noise_reduction",
    "transcription",
    "turn_detection",
];
const OUTPUT_KEYS: &[&str] = &["format", "speed", "voice"];
const SERVER_VAD_KEYS: &[&str] = &[
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
    "idle_timeout_ms",
];
const SEMANTIC_VAD_KEYS: &[&str] = &["type", "eagerness", "create_response", "interrupt_response"];
const TRANSCRIPTION_KEYS: &[&str] = &[
    "model",
    "language",
    "prompt",
    "languages",
    "keywords",
    "delay",
];
const NOISE_KEYS: &[&str] = &["type", "strength"];
const TOOL_KEYS: &[&str] = &["type", "name", "description", "parameters"];

/// The session object a fresh connection starts with (the real defaults).
pub(crate) fn default_session(model: &str) -> Map<String, Value> {
    let pcm = Fmt::Pcm24.to_json();
    let v = json!({
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "audio": {
            "input": {
                "format": pcm,
                "transcription": null,
                "noise_reduction": null,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": null,
                    "create_response": true,
                    "interrupt_response": true,
                },
            },
            "output": {"format": pcm, "voice": "marin", "speed": 1.0},
        },
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Rejection> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Rejection::unknown(&format!("{path}.{k}"))),
        None => Ok(()),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Rejection> {
    v.as_object().ok_or_else(|| {
        Rejection::new(
            "invalid_type",
            format!("Invalid type for '{path}': expected an object."),
            Some(path),
        )
    })
}

/// Merge the `session` of a `session.update` into `current`: only fields
/// present change, and `audio.input` / `audio.output` merge field by field.
pub(crate) fn apply_update(
    current: &Map<String, Value>,
    update: &Value,
) -> Result<Map<String, Value>, Rejection> {
    let update = object(update, "session")?;
    match update.get("type").and_then(Value::as_str) {
        Some("realtime") => {}
        Some(_) => {
            return Err(Rejection::invalid(
                "session.type",
                "this server only accepts 'realtime' sessions",
            ))
        }
        None => {
            return Err(Rejection::new(
                "missing_required_parameter",
                "Missing required parameter: 'session.type'.",
                Some("session.type"),
            ))
        }
    }
    check_keys(update, SESSION_KEYS, "session")?;
    let mut merged = current.clone();
    for (key, value) in update {
        if key != "audio" {
            merged.insert(key.clone(), value.clone());
            continue;
        }
        let audio = object(value, "session.audio")?;
        check_keys(audio, &["input", "output"], "session.audio")?;
        let merged_audio = merged.entry("audio").or_insert_with(|| json!({}));
        for (side, keys) in [("input", INPUT_KEYS), ("output", OUTPUT_KEYS)] {
            let Some(fields) = audio.get(side) else {
                continue;
            };
            let path = format!("session.audio.{side}");
            let fields = object(fields, &path)?;
            check_keys(fields, keys, &path)?;
            if let Some(target) = merged_audio.as_object_mut() {
                let target = target.entry(side).or_insert_with(|| json!({}));
                if let Some(target) = target.as_object_mut() {
                    for (k, v) in fields {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    validate(&merged)?;
    Ok(merged)
}

/// What the simulator does with the session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub input: Fmt,
    pub output: Fmt,
    pub voice: String,
    pub turn: Option<TurnSettings>,
    pub transcription: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TurnSettings {
    pub vad: VadConfig,
    pub create_response: bool,
    pub interrupt_response: bool,
    pub idle_timeout_ms: Option<u64>,
}

fn at<'a>(v: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = v.get(*first)?;
    for key in rest {
        cur = cur.get(*key)?;
    }
    Some(cur)
}

fn format(v: Option<&Value>, path: &str) -> Result<Fmt, Rejection> {
    let Some(v) = v else { return Ok(Fmt::Pcm24) };
    let obj = object(v, path)?;
    check_keys(obj, &["type", "rate"], path)?;
    match (obj.get("type").and_then(Value::as_str), obj.get("rate")) {
        (Some("audio/pcmu"), None) => Ok(Fmt::Pcmu),
        (Some("audio/pcm"), None) => Ok(Fmt::Pcm24),
        (Some("audio/pcm"), Some(r)) if r.as_u64() == Some(24_000) => Ok(Fmt::Pcm24),
        (Some("audio/pcm"), Some(_)) => Err(Rejection::invalid(&format!("{path}.rate"), "only 24000 is supported")),
        (Some("audio/pcma"), _) => Err(Rejection::invalid(
            &format!("{path}.type"),
            "audio/pcma is valid for the real API but this simulator only speaks audio/pcmu and audio/pcm",
        )),
        _ => Err(Rejection::invalid(&format!("{path}.type"), "expected audio/pcm, audio/pcmu or audio/pcma")),
    }
}

fn u64_or(v: &Map<String, Value>, key: &str, default: u64) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(default)
}

fn turn_settings(v: Option<&Value>) -> Result<Option<TurnSettings>, Rejection> {
    const PATH: &str = "session.audio.input.turn_detection";
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let obj = object(v, PATH)?;
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(true);
    let (vad, idle) = match obj.get("type").and_then(Value::as_str) {
        Some("server_vad") => {
            check_keys(obj, SERVER_VAD_KEYS, PATH)?;
            let vad = VadConfig {
                prefix_padding_ms: u64_or(obj, "prefix_padding_ms", 300),
                silence_duration_ms: u64_or(obj, "silence_duration_ms", 500),
            };
            (vad, obj.get("idle_timeout_ms").and_then(Value::as_u64))
        }
        Some("semantic_vad") => {
            check_keys(obj, SEMANTIC_VAD_KEYS, PATH)?;
            // Semantic VAD waits longer the lower its eagerness.
            let silence = match obj.get("eagerness").and_then(Value::as_str) {
                Some("low") => 1_200,
                Some("high") => 400,
                Some("medium" | "auto") | None => 800,
                Some(_) => {
                    return Err(Rejection::invalid(
                        &format!("{PATH}.eagerness"),
                        "expected low, medium, high or auto",
                    ))
                }
            };
            (
                VadConfig {
                    prefix_padding_ms: 300,
                    silence_duration_ms: silence,
                },
                None,
            )
        }
        _ => {
            return Err(Rejection::invalid(
                &format!("{PATH}.type"),
                "expected server_vad or semantic_vad",
            ))
        }
    };
    Ok(Some(TurnSettings {
        vad,
        create_response: flag("create_response"),
        interrupt_response: flag("interrupt_response"),
        idle_timeout_ms: idle,
    }))
}

fn validate(s: &Map<String, Value>) -> Result<(), Rejection> {
    settings(s)?;
    if let Some(m) = s.get("output_modalities") {
        if m != &json!(["audio"]) {
            return Err(Rejection::invalid(
                "session.output_modalities",
                "this simulator only speaks audio (use [\"audio\"])",
            ));
        }
    }
    for (key, allowed) in [
        ("transcription", TRANSCRIPTION_KEYS),
        ("noise_reduction", NOISE_KEYS),
    ] {
        if let Some(v) = at(s, &["audio", "input", key]).filter(|v| !v.is_null()) {
            let path = format!("session.audio.input.{key}");
            check_keys(object(v, &path)?, allowed, &path)?;
        }
    }
    if let Some(tools) = s.get("tools") {
        let tools = tools.as_array().ok_or_else(|| {
            Rejection::new(
                "invalid_type",
                "Invalid type for 'session.tools': expected an array.",
                Some("session.tools"),
            )
        })?;
        for (i, tool) in tools.iter().enumerate() {
            let path = format!("session.tools[{i}]");
            let t = object(tool, &path)?;
            if t.get("type").and_then(Value::as_str) == Some("function") {
                check_keys(t, TOOL_KEYS, &path)?;
                if t.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(Rejection::new(
                        "missing_required_parameter",
                        format!("Missing required parameter: '{path}.name'."),
                        Some(&format!("{path}.name")),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The settings of a (merged, valid) session object.
pub(crate) fn settings(s: &Map<String, Value>) -> Result<Settings, Rejection> {
    let voice = match at(s, &["audio", "output", "voice"]) {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("marin")
            .to_string(),
        _ => "marin".to_string(),
    };
    Ok(Settings {
        input: format(
            at(s, &["audio", "input", "format"]),
            "session.audio.input.format",
        )?,
        output: format(
            at(s, &["audio", "output", "format"]),
            "session.audio.output.format",
        )?,
        voice,
        turn: turn_settings(at(s, &["audio", "input", "turn_detection"]))?,
        transcription: at(s, &["audio", "input", "transcription"]).is_some_and(|v| !v.is_null()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(v: Value) -> Result<Map<String, Value>, Rejection> {
        apply_update(&default_session("gpt-realtime"), &v)
    }

    #[test]
    fn defaults() {
        let s = settings(&default_session("m")).unwrap();
        assert_eq!(s.input, Fmt::Pcm24);
        assert_eq!(s.output, Fmt::Pcm24);
        assert_eq!(s.voice, "marin");
        assert!(!s.transcription);
        let t = s.turn.unwrap();
        assert!(t.create_response && t.interrupt_response);
        assert_eq!(
            t.vad,
            VadConfig {
                prefix_padding_ms: 300,
                silence_duration_ms: 200
            }
        );
    }

    #[test]
    fn merges_field_by_field() {
        let m = update(json!({"type":"realtime","instructions":"Hi","audio":{
            "input":{"format":{"type":"audio/pcmu"},"transcription":{"model":"whisper-1"},
                     "turn_detection":{"type":"semantic_vad","eagerness":"high","create_response":false}},
            "output":{"format":{"type":"audio/pcmu"}}}}))
        .unwrap();
        assert_eq!(m["instructions"], "Hi");
        assert_eq!(
            m["audio"]["output"]["voice"], "marin",
            "untouched field kept"
        );
        let s = settings(&m).unwrap();
        assert_eq!((s.input, s.output), (Fmt::Pcmu, Fmt::Pcmu));
        assert!(s.transcription);
        let t = s.turn.unwrap();
        assert!(!t.create_response && t.interrupt_response);
        assert_eq!(t.vad.silence_duration_ms, 400);
        // null clears turn detection.
        let m2 = apply_update(
            &m,
            &json!({"type":"realtime","audio":{"input":{"turn_detection":null}}}),
        )
        .unwrap();
        assert_eq!(settings(&m2).unwrap().turn, None);
    }

    #[test]
    fn rejects_beta_and_unknown_keys() {
        let e = update(json!({"type":"realtime","modalities":["audio"]})).unwrap_err();
        assert_eq!(
            (e.code, e.param.as_deref()),
            ("unknown_parameter", Some("session.modalities"))
        );
        let e = update(
            json!({"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"},"vad":1}}}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("session.audio.input.vad"));
        let e = update(json!({"modalities":["audio"]})).unwrap_err();
        assert_eq!(e.code, "missing_required_parameter");
        let e = update(json!({"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","eagerness":"low"}}}})).unwrap_err();
        assert_eq!(e.code, "unknown_parameter");
        let e = update(json!({"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm","rate":16000}}}})).unwrap_err();
        assert_eq!(e.code, "invalid_value");
        let e = update(
            json!({"type":"realtime","tools":[{"type":"function","name":"x","strict":true}]}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("session.tools[0].strict"));
        let e = update(json!({"type":"realtime","output_modalities":["text"]})).unwrap_err();
        assert_eq!(e.code, "invalid_value");
    }
}
