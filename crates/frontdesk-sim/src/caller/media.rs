//! Media Streams JSON as Twilio sends and expects it (§4 of the protocol
//! notes). Built and parsed here with plain serde_json, independent of the
//! engine's own message types, so a shared bug cannot hide on both sides.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Identity of one stream, repeated in most messages.
#[derive(Debug, Clone)]
pub struct StreamIds {
    pub stream_sid: String,
    pub account_sid: String,
    pub call_sid: String,
}

pub fn connected() -> String {
    json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
}

pub fn start(sequence: u64, ids: &StreamIds, custom_parameters: &[(String, String)]) -> String {
    let custom: Map<String, Value> = custom_parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "event": "start",
        "sequenceNumber": sequence.to_string(),
        "start": {
            "accountSid": ids.account_sid,
            "streamSid": ids.stream_sid,
            "callSid": ids.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": custom,
        },
        "streamSid": ids.stream_sid,
    })
    .to_string()
}

pub fn media(
    sequence: u64,
    stream_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    audio: &[u8],
) -> String {
    json!({
        "event": "media",
        "sequenceNumber": sequence.to_string(),
        "media": {
            "track": "inbound",
            "chunk": chunk.to_string(),
            "timestamp": timestamp_ms.to_string(),
            "payload": BASE64.encode(audio),
        },
        "streamSid": stream_sid,
    })
    .to_string()
}

pub fn dtmf(sequence: u64, stream_sid: &str, digit: char) -> String {
    json!({
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": sequence.to_string(),
        "dtmf": {"track": "inbound_track", "digit": digit.to_string()},
    })
    .to_string()
}

pub fn mark_echo(sequence: u64, stream_sid: &str, name: &str) -> String {
    json!({
        "event": "mark",
        "sequenceNumber": sequence.to_string(),
        "streamSid": stream_sid,
        "mark": {"name": name},
    })
    .to_string()
}

pub fn stop(sequence: u64, ids: &StreamIds) -> String {
    json!({
        "event": "stop",
        "sequenceNumber": sequence.to_string(),
        "stop": {"accountSid": ids.account_sid, "callSid": ids.call_sid},
        "streamSid": ids.stream_sid,
    })
    .to_string()
}

/// A message the server sends to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Media { stream_sid: String, audio: Vec<u8> },
    Mark { stream_sid: String, name: String },
    Clear { stream_sid: String },
}

/// Parses a server message the way Twilio would accept it; the error says what
/// Twilio would have complained about.
pub fn parse_outbound(text: &str) -> Result<Outbound, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("message is not JSON ({e}): {text:.120}"))?;
    let event = value
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("message has no \"event\": {text:.120}"))?;
    let stream_sid = value
        .get("streamSid")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{event} message has no \"streamSid\""))?
        .to_owned();
    match event {
        "media" => {
            let payload = value
                .pointer("/media/payload")
                .and_then(Value::as_str)
                .ok_or("media message has no media.payload")?;
            let audio = BASE64
                .decode(payload)
                .map_err(|e| format!("media.payload is not base64: {e}"))?;
            Ok(Outbound::Media { stream_sid, audio })
        }
        "mark" => {
            let name = value
                .pointer("/mark/name")
                .and_then(Value::as_str)
                .ok_or("mark message has no mark.name")?
                .to_owned();
            Ok(Outbound::Mark { stream_sid, name })
        }
        "clear" => Ok(Outbound::Clear { stream_sid }),
        other => Err(format!("unknown event {other:?} sent to Twilio")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> StreamIds {
        StreamIds {
            stream_sid: "MZ00000000000000000000000000000001".into(),
            account_sid: "AC00000000000000000000000000000002".into(),
            call_sid: "CA00000000000000000000000000000003".into(),
        }
    }

    #[test]
    fn inbound_messages_have_twilio_shape() {
        let start: Value =
            serde_json::from_str(&start(1, &ids(), &[("tenant".into(), "acme".into())])).unwrap();
        assert_eq!(start["sequenceNumber"], "1");
        assert_eq!(start["start"]["tracks"], json!(["inbound"]));
        assert_eq!(start["start"]["mediaFormat"]["sampleRate"], 8000);
        assert_eq!(start["start"]["customParameters"]["tenant"], "acme");
        assert_eq!(start["streamSid"], start["start"]["streamSid"]);

        let media: Value =
            serde_json::from_str(&media(4, &ids().stream_sid, 2, 20, &[0xFF; 160])).unwrap();
        assert_eq!(media["sequenceNumber"], "4");
        assert_eq!(media["media"]["chunk"], "2");
        assert_eq!(media["media"]["timestamp"], "20");
        assert_eq!(media["media"]["track"], "inbound");
        let payload = media["media"]["payload"].as_str().unwrap();
        assert_eq!(BASE64.decode(payload).unwrap(), vec![0xFF; 160]);

        let dtmf: Value = serde_json::from_str(&dtmf(5, "MZ1", '#')).unwrap();
        assert_eq!(
            dtmf["dtmf"],
            json!({"track": "inbound_track", "digit": "#"})
        );
        let mark: Value = serde_json::from_str(&mark_echo(6, "MZ1", "r:1")).unwrap();
        assert_eq!(mark["mark"]["name"], "r:1");
        let stop: Value = serde_json::from_str(&stop(7, &ids())).unwrap();
        assert_eq!(stop["stop"]["callSid"], ids().call_sid);
        let connected: Value = serde_json::from_str(&connected()).unwrap();
        assert!(connected.get("sequenceNumber").is_none());
    }

    #[test]
    fn parses_outbound_messages() {
        assert_eq!(
            parse_outbound(r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}"#),
            Ok(Outbound::Media {
                stream_sid: "MZ1".into(),
                audio: vec![0xFF, 0xFF]
            })
        );
        assert_eq!(
            parse_outbound(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"g2:40"}}"#),
            Ok(Outbound::Mark {
                stream_sid: "MZ1".into(),
                name: "g2:40".into()
            })
        );
        assert_eq!(
            parse_outbound(r#"{"event":"clear","streamSid":"MZ1"}"#),
            Ok(Outbound::Clear {
                stream_sid: "MZ1".into()
            })
        );
    }

    #[test]
    fn reports_what_twilio_would_reject() {
        assert!(parse_outbound("nope").unwrap_err().contains("not JSON"));
        assert!(parse_outbound(r#"{"event":"clear"}"#)
            .unwrap_err()
            .contains("streamSid"));
        assert!(
            parse_outbound(r#"{"event":"media","streamSid":"MZ1","media":{"payload":"***"}}"#)
                .unwrap_err()
                .contains("base64")
        );
        assert!(parse_outbound(r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#).is_err());
        assert!(parse_outbound(r#"{"event":"hello","streamSid":"MZ1"}"#)
            .unwrap_err()
            .contains("unknown event"));
    }
}
