//! Media Streams WebSocket messages (§4 of `shared/protocols/twilio-voice.md`).
//!
//! Both directions are here: the bridge parses [`Inbound`] and writes outbound
//! frames with [`media_json`], [`mark_json`] and [`clear_json`]; the caller
//! simulator does the reverse with the `*_json` builders for Twilio's side and
//! [`parse_outbound`].

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Why a frame could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("malformed JSON frame: {0}")]
    Malformed(String),
    #[error("frame has no \"event\" field")]
    MissingEvent,
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    #[error("{event} frame is missing field {field:?}")]
    MissingField { event: String, field: String },
    #[error("{event} frame has an invalid field: {detail}")]
    InvalidField { event: String, detail: String },
}

/// A message from Twilio to the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum Inbound {
    Connected {
        protocol: String,
        version: String,
    },
    Start {
        #[serde(deserialize_with = "u64_from_string")]
        sequence_number: u64,
        stream_sid: String,
        start: StartMeta,
    },
    Media {
        #[serde(deserialize_with = "u64_from_string")]
        sequence_number: u64,
        stream_sid: String,
        media: MediaFrame,
    },
    Dtmf {
        #[serde(deserialize_with = "u64_from_string")]
        sequence_number: u64,
        stream_sid: String,
        dtmf: DtmfDigit,
    },
    Mark {
        #[serde(deserialize_with = "u64_from_string")]
        sequence_number: u64,
        stream_sid: String,
        mark: MarkLabel,
    },
    Stop {
        #[serde(deserialize_with = "u64_from_string")]
        sequence_number: u64,
        stream_sid: String,
        stop: StopMeta,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMeta {
    pub account_sid: String,
    pub stream_sid: String,
    pub call_sid: String,
    #[serde(default)]
    pub tracks: Vec<String>,
    pub media_format: MediaFormat,
    /// The `<Parameter>`s of the `<Stream>`.
    #[serde(default)]
    pub custom_parameters: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    pub encoding: String,
    #[serde(deserialize_with = "u64_from_string")]
    pub sample_rate: u64,
    #[serde(deserialize_with = "u64_from_string")]
    pub channels: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaFrame {
    /// `inbound` (caller) or `outbound`.
    pub track: String,
    #[serde(deserialize_with = "u64_from_string")]
    pub chunk: u64,
    /// Milliseconds since the stream started: the call's audio clock.
    #[serde(deserialize_with = "u64_from_string")]
    pub timestamp: u64,
    /// Base64 µ-law, 8 kHz mono.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DtmfDigit {
    pub track: String,
    pub digit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarkLabel {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopMeta {
    pub account_sid: String,
    pub call_sid: String,
}

/// Twilio sends numbers as strings; plain JSON numbers are accepted too.
fn u64_from_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct U64Visitor;

    impl Visitor<'_> for U64Visitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer, possibly as a string")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }

    deserializer.deserialize_any(U64Visitor)
}

const INBOUND_EVENTS: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];
const OUTBOUND_EVENTS: &[&str] = &["media", "mark", "clear"];

/// Parses one text frame from Twilio.
pub fn parse_inbound(text: &str) -> Result<Inbound, MediaError> {
    serde_json::from_str(text).map_err(|err| classify(text, &err, INBOUND_EVENTS))
}

/// The fields of a `media` frame the bridge uses, borrowed from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRef<'a> {
    pub track: &'a str,
    pub payload: &'a str,
}

/// The per-frame fast path: a `media` frame in exactly the shape Twilio
/// sends (`event`, `sequenceNumber`, `media` {`track`, `chunk`,
/// `timestamp`, `payload`}, `streamSid`; no whitespace, no escapes), read
/// by matching that template, borrowing the strings. Anything else — another
/// key order, whitespace, escapes, a non-base64 payload — is `None`, and the
/// caller uses [`parse_inbound`], which accepts everything this accepts.
pub fn parse_media(text: &str) -> Option<MediaRef<'_>> {
    let rest = text.strip_prefix(r#"{"event":"media","sequenceNumber":""#)?;
    let (_, rest) = field(rest, r#"","media":{"track":""#, is_digits)?;
    let (track, rest) = field(rest, r#"","chunk":""#, |s| {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    })?;
    let (_, rest) = field(rest, r#"","timestamp":""#, is_digits)?;
    let (_, rest) = field(rest, r#"","payload":""#, is_digits)?;
    let (payload, rest) = field(rest, r#""},"streamSid":""#, |s| {
        s.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/') | (b == b'='))
        })
    })?;
    let (_, rest) = field(rest, "\"}", |s| {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    })?;
    rest.is_empty().then_some(MediaRef { track, payload })
}

/// A string value up to its closing quote, which must be followed by
/// `then`; `ok` vets the value (none of the accepted characters needs
/// escaping, so the first quote closes it).
fn field<'a>(text: &'a str, then: &str, ok: impl Fn(&str) -> bool) -> Option<(&'a str, &'a str)> {
    let end = text.find('"')?;
    let value = &text[..end];
    let rest = text[end..].strip_prefix(then)?;
    // `then` starts with the closing quote.
    ok(value).then_some((value, rest))
}

/// A non-empty decimal that fits a u64, as `u64_from_string` requires.
fn is_digits(s: &str) -> bool {
    s.parse::<u64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Turns a serde failure into a precise [`MediaError`]; only runs on the error path.
fn classify(text: &str, err: &serde_json::Error, known: &[&str]) -> MediaError {
    if !err.is_data() {
        return MediaError::Malformed(err.to_string());
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return MediaError::Malformed(e.to_string()),
    };
    let Some(object) = value.as_object() else {
        return MediaError::Malformed("frame is not a JSON object".to_owned());
    };
    let event = match object.get("event") {
        None => return MediaError::MissingEvent,
        Some(serde_json::Value::String(event)) => event.clone(),
        Some(other) => return MediaError::UnknownEvent(other.to_string()),
    };
    if !known.contains(&event.as_str()) {
        return MediaError::UnknownEvent(event);
    }
    // serde words this as "missing field `name` at line L column C".
    let message = err.to_string();
    match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((field, _)) => MediaError::MissingField {
            event,
            field: field.to_owned(),
        },
        None => MediaError::InvalidField {
            event,
            detail: message,
        },
    }
}

/// Frame builders write JSON by hand into a pre-sized buffer; this keeps
/// that safe for any input by escaping only when a string needs it.
fn push_json_str(out: &mut String, s: &str) {
    // No early exit: this form vectorises (payloads are ~200 bytes a frame).
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        match serde_json::to_string(s) {
            Ok(quoted) => out.push_str(&quoted),
            // Serialising a str cannot fail; an empty string keeps the frame valid.
            Err(_) => out.push_str("\"\""),
        }
    }
}

/// `{"event":"media","streamSid":…,"media":{"payload":…}}` (server → Twilio).
pub fn media_json(stream_sid: &str, payload_b64: &str) -> String {
    let mut out = String::with_capacity(60 + stream_sid.len() + payload_b64.len());
    out.push_str(r#"{"event":"media","streamSid":"#);
    push_json_str(&mut out, stream_sid);
    out.push_str(r#","media":{"payload":"#);
    push_json_str(&mut out, payload_b64);
    out.push_str("}}");
    out
}

/// `{"event":"mark","streamSid":…,"mark":{"name":…}}` (server → Twilio).
pub fn mark_json(stream_sid: &str, name: &str) -> String {
    let mut out = String::with_capacity(60 + stream_sid.len() + name.len());
    out.push_str(r#"{"event":"mark","streamSid":"#);
    push_json_str(&mut out, stream_sid);
    out.push_str(r#","mark":{"name":"#);
    push_json_str(&mut out, name);
    out.push_str("}}");
    out
}

/// `{"event":"clear","streamSid":…}` (server → Twilio).
pub fn clear_json(stream_sid: &str) -> String {
    let mut out = String::with_capacity(40 + stream_sid.len());
    out.push_str(r#"{"event":"clear","streamSid":"#);
    push_json_str(&mut out, stream_sid);
    out.push('}');
    out
}

/// Twilio's first frame on a stream.
pub fn connected_json() -> String {
    r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.to_owned()
}

/// Twilio's `start` frame for an inbound-only µ-law 8 kHz mono stream.
pub fn start_json(
    stream_sid: &str,
    account_sid: &str,
    call_sid: &str,
    sequence_number: u64,
    custom_parameters: &[(String, String)],
) -> String {
    let params: serde_json::Map<String, serde_json::Value> = custom_parameters
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "event": "start",
        "sequenceNumber": sequence_number.to_string(),
        "start": {
            "accountSid": account_sid,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": params,
        },
        "streamSid": stream_sid,
    })
    .to_string()
}

/// Twilio's inbound-track `media` frame; hand-formatted as the simulator sends 50 a second.
pub fn media_in_json(
    stream_sid: &str,
    sequence_number: u64,
    chunk: u64,
    timestamp: u64,
    payload_b64: &str,
) -> String {
    let mut out = String::with_capacity(140 + stream_sid.len() + payload_b64.len());
    out.push_str(r#"{"event":"media","sequenceNumber":""#);
    out.push_str(&sequence_number.to_string());
    out.push_str(r#"","media":{"track":"inbound","chunk":""#);
    out.push_str(&chunk.to_string());
    out.push_str(r#"","timestamp":""#);
    out.push_str(&timestamp.to_string());
    out.push_str(r#"","payload":"#);
    push_json_str(&mut out, payload_b64);
    out.push_str(r#"},"streamSid":"#);
    push_json_str(&mut out, stream_sid);
    out.push('}');
    out
}

/// Twilio's `dtmf` frame for a key pressed by the caller.
pub fn dtmf_json(stream_sid: &str, sequence_number: u64, digit: &str) -> String {
    serde_json::json!({
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": sequence_number.to_string(),
        "dtmf": {"track": "inbound_track", "digit": digit},
    })
    .to_string()
}

/// Twilio's echo of a mark whose audio has played (or was cleared).
pub fn mark_echo_json(stream_sid: &str, sequence_number: u64, name: &str) -> String {
    serde_json::json!({
        "event": "mark",
        "sequenceNumber": sequence_number.to_string(),
        "streamSid": stream_sid,
        "mark": {"name": name},
    })
    .to_string()
}

/// Twilio's final `stop` frame.
pub fn stop_json(
    stream_sid: &str,
    sequence_number: u64,
    account_sid: &str,
    call_sid: &str,
) -> String {
    serde_json::json!({
        "event": "stop",
        "sequenceNumber": sequence_number.to_string(),
        "stop": {"accountSid": account_sid, "callSid": call_sid},
        "streamSid": stream_sid,
    })
    .to_string()
}

/// A message from the bridge to Twilio, as the simulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Media { payload: String },
    Mark { name: String },
    Clear,
}

/// An [`Outbound`] message together with the stream it addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundFrame {
    pub stream_sid: String,
    pub message: Outbound,
}

#[derive(Deserialize)]
#[serde(
    tag = "event",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
enum OutboundWire {
    Media {
        stream_sid: String,
        media: OutboundPayload,
    },
    Mark {
        stream_sid: String,
        mark: MarkLabel,
    },
    Clear {
        stream_sid: String,
    },
}

#[derive(Deserialize)]
struct OutboundPayload {
    payload: String,
}

/// Parses a frame the bridge sent to Twilio, keeping its `streamSid`.
pub fn parse_outbound_frame(text: &str) -> Result<OutboundFrame, MediaError> {
    let wire: OutboundWire =
        serde_json::from_str(text).map_err(|err| classify(text, &err, OUTBOUND_EVENTS))?;
    Ok(match wire {
        OutboundWire::Media { stream_sid, media } => OutboundFrame {
            stream_sid,
            message: Outbound::Media {
                payload: media.payload,
            },
        },
        OutboundWire::Mark { stream_sid, mark } => OutboundFrame {
            stream_sid,
            message: Outbound::Mark { name: mark.name },
        },
        OutboundWire::Clear { stream_sid } => OutboundFrame {
            stream_sid,
            message: Outbound::Clear,
        },
    })
}

/// Parses a frame the bridge sent to Twilio.
pub fn parse_outbound(text: &str) -> Result<Outbound, MediaError> {
    parse_outbound_frame(text).map(|frame| frame.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
    const ACCOUNT: &str = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
    const CALL: &str = "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

    fn media_frame(seq: &str, chunk: &str, payload: &str) -> String {
        format!(
            r#"{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"5","payload":"{payload}"}},"streamSid":"{SID}"}}"#
        )
    }

    #[test]
    fn the_media_fast_path_agrees_with_the_full_parser() {
        let text = media_frame("3", "1", "//8=");
        let fast = parse_media(&text).unwrap();
        assert_eq!(
            fast,
            MediaRef {
                track: "inbound",
                payload: "//8="
            }
        );
        let Ok(Inbound::Media { media, .. }) = parse_inbound(&text) else {
            panic!("the full parser rejects {text}");
        };
        assert_eq!(
            (media.track.as_str(), media.payload.as_str()),
            ("inbound", "//8=")
        );
    }

    #[test]
    fn the_media_fast_path_declines_what_the_full_parser_rejects() {
        for text in [
            media_frame("3", "x", "//8="),  // chunk not a number
            media_frame("-1", "1", "//8="), // sequence not a u64
            r#"{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"//8="},"streamSid":"MZ1"}"#.to_string(),
            r#"{"event":"media","sequenceNumber":"1","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"//8="}"#.to_string(),
        ] {
            assert_eq!(parse_media(&text), None, "{text}");
            assert!(parse_inbound(&text).is_err(), "{text}");
        }
        // Escapes cannot be borrowed: left to the full parser, which takes them.
        let escaped = media_frame("3", "1", "\\/\\/8=");
        assert_eq!(parse_media(&escaped), None);
        assert!(parse_inbound(&escaped).is_ok());
        // Other events are not media.
        assert_eq!(parse_media(r#"{"event":"mark"}"#), None);
    }

    #[test]
    fn reference_connected() {
        let msg = parse_inbound(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#);
        assert_eq!(
            msg,
            Ok(Inbound::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            })
        );
    }

    #[test]
    fn reference_start() {
        let text = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","callSid":"CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"tenant":"acme"}},"streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}"#;
        let expected = Inbound::Start {
            sequence_number: 1,
            stream_sid: SID.into(),
            start: StartMeta {
                account_sid: ACCOUNT.into(),
                stream_sid: SID.into(),
                call_sid: CALL.into(),
                tracks: vec!["inbound".into()],
                media_format: MediaFormat {
                    encoding: "audio/x-mulaw".into(),
                    sample_rate: 8000,
                    channels: 1,
                },
                custom_parameters: HashMap::from([("tenant".to_owned(), "acme".to_owned())]),
            },
        };
        assert_eq!(parse_inbound(text), Ok(expected.clone()));
        let params = vec![("tenant".to_owned(), "acme".to_owned())];
        assert_eq!(
            parse_inbound(&start_json(SID, ACCOUNT, CALL, 1, &params)),
            Ok(expected)
        );
    }

    #[test]
    fn reference_media() {
        let text = r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"no+JhoaJjpzS..."},"streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}"#;
        let expected = Inbound::Media {
            sequence_number: 4,
            stream_sid: SID.into(),
            media: MediaFrame {
                track: "inbound".into(),
                chunk: 2,
                timestamp: 5,
                payload: "no+JhoaJjpzS...".into(),
            },
        };
        assert_eq!(parse_inbound(text), Ok(expected));
        // The simulator's builder reproduces Twilio's frame byte for byte.
        assert_eq!(media_in_json(SID, 4, 2, 5, "no+JhoaJjpzS..."), text);
    }

    #[test]
    fn reference_dtmf_mark_stop() {
        let dtmf = r#"{"event":"dtmf","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        let expected = Inbound::Dtmf {
            sequence_number: 5,
            stream_sid: SID.into(),
            dtmf: DtmfDigit {
                track: "inbound_track".into(),
                digit: "1".into(),
            },
        };
        assert_eq!(parse_inbound(dtmf), Ok(expected.clone()));
        assert_eq!(parse_inbound(&dtmf_json(SID, 5, "1")), Ok(expected));

        let mark = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","mark":{"name":"my label"}}"#;
        let expected = Inbound::Mark {
            sequence_number: 4,
            stream_sid: SID.into(),
            mark: MarkLabel {
                name: "my label".into(),
            },
        };
        assert_eq!(parse_inbound(mark), Ok(expected.clone()));
        assert_eq!(
            parse_inbound(&mark_echo_json(SID, 4, "my label")),
            Ok(expected)
        );

        let stop = r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","callSid":"CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"},"streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}"#;
        let expected = Inbound::Stop {
            sequence_number: 5,
            stream_sid: SID.into(),
            stop: StopMeta {
                account_sid: ACCOUNT.into(),
                call_sid: CALL.into(),
            },
        };
        assert_eq!(parse_inbound(stop), Ok(expected.clone()));
        assert_eq!(
            parse_inbound(&stop_json(SID, 5, ACCOUNT, CALL)),
            Ok(expected)
        );
        assert_eq!(
            parse_inbound(&connected_json()),
            Ok(Inbound::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            })
        );
    }

    #[test]
    fn outbound_reference_frames_are_reproduced_exactly() {
        let media = r#"{"event":"media","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","media":{"payload":"a3242sa..."}}"#;
        let mark = r#"{"event":"mark","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","mark":{"name":"resp_1:7"}}"#;
        let clear = r#"{"event":"clear","streamSid":"MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}"#;
        assert_eq!(media_json(SID, "a3242sa..."), media);
        assert_eq!(mark_json(SID, "resp_1:7"), mark);
        assert_eq!(clear_json(SID), clear);
        assert_eq!(
            parse_outbound(media),
            Ok(Outbound::Media {
                payload: "a3242sa...".into()
            })
        );
        assert_eq!(
            parse_outbound(mark),
            Ok(Outbound::Mark {
                name: "resp_1:7".into()
            })
        );
        assert_eq!(
            parse_outbound_frame(clear),
            Ok(OutboundFrame {
                stream_sid: SID.into(),
                message: Outbound::Clear
            })
        );
    }

    #[test]
    fn awkward_strings_survive_round_trips() {
        let name = "quote\" back\\slash\nnewline \u{1} é 🎵";
        let frame = mark_json(SID, name);
        assert_eq!(
            parse_outbound(&frame),
            Ok(Outbound::Mark { name: name.into() })
        );
        let odd_sid = "MZ\"x";
        assert_eq!(
            parse_outbound_frame(&clear_json(odd_sid)).map(|f| f.stream_sid),
            Ok(odd_sid.to_owned())
        );
        assert_eq!(
            parse_outbound(&media_json(odd_sid, "AAAA")),
            Ok(Outbound::Media {
                payload: "AAAA".into()
            })
        );
        let params = vec![("a\"b".to_owned(), "ü\n".to_owned())];
        match parse_inbound(&start_json(odd_sid, ACCOUNT, CALL, 1, &params)) {
            Ok(Inbound::Start { start, .. }) => assert_eq!(
                start.custom_parameters.get("a\"b").map(String::as_str),
                Some("ü\n")
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_inbound(&media_in_json(odd_sid, 9, 8, 7, "+/==")),
            Ok(Inbound::Media { sequence_number: 9, ref stream_sid, ref media }) if stream_sid == odd_sid && media.chunk == 8 && media.timestamp == 7 && media.payload == "+/=="
        ));
    }

    #[test]
    fn tolerates_unknown_fields_and_numeric_numbers() {
        let text = r#"{"event":"media","sequenceNumber":4,"extra":{"x":[1]},"media":{"track":"outbound","chunk":2,"timestamp":"5","payload":"","new":true},"streamSid":"MZ1"}"#;
        assert!(matches!(
            parse_inbound(text),
            Ok(Inbound::Media { sequence_number: 4, ref media, .. }) if media.chunk == 2 && media.track == "outbound"
        ));
        // customParameters and tracks may be absent.
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":1}},"streamSid":"MZ1"}"#;
        assert!(matches!(
            parse_inbound(start),
            Ok(Inbound::Start { ref start, .. }) if start.custom_parameters.is_empty() && start.media_format.sample_rate == 8000
        ));
    }

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            parse_inbound("{\"event\":"),
            Err(MediaError::Malformed(_))
        ));
        assert!(matches!(
            parse_inbound("not json"),
            Err(MediaError::Malformed(_))
        ));
        assert!(matches!(
            parse_inbound("[1,2]"),
            Err(MediaError::Malformed(_))
        ));
        assert_eq!(
            parse_inbound(r#"{"streamSid":"MZ1"}"#),
            Err(MediaError::MissingEvent)
        );
        assert_eq!(
            parse_inbound(r#"{"event":"hello","streamSid":"MZ1"}"#),
            Err(MediaError::UnknownEvent("hello".into()))
        );
        assert_eq!(
            parse_inbound(r#"{"event":"clear","streamSid":"MZ1"}"#),
            Err(MediaError::UnknownEvent("clear".into()))
        );
        assert_eq!(
            parse_inbound(
                r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"x"}}"#
            ),
            Err(MediaError::MissingField {
                event: "media".into(),
                field: "streamSid".into()
            })
        );
        assert_eq!(
            parse_inbound(
                r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","payload":"x"},"streamSid":"MZ1"}"#
            ),
            Err(MediaError::MissingField {
                event: "media".into(),
                field: "timestamp".into()
            })
        );
        assert!(matches!(
            parse_inbound(r#"{"event":"media","sequenceNumber":"four","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"x"},"streamSid":"MZ1"}"#),
            Err(MediaError::InvalidField { ref event, .. }) if event == "media"
        ));
        assert!(matches!(
            parse_inbound(
                r#"{"event":"mark","sequenceNumber":"-1","streamSid":"MZ1","mark":{"name":"x"}}"#
            ),
            Err(MediaError::InvalidField { .. })
        ));
        assert_eq!(
            parse_outbound(r#"{"event":"start","streamSid":"MZ1"}"#),
            Err(MediaError::UnknownEvent("start".into()))
        );
        assert_eq!(
            parse_outbound(r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#),
            Err(MediaError::MissingField {
                event: "mark".into(),
                field: "name".into()
            })
        );
    }
}
