//! Redaction of a flight record (`crate::flight`) before it is stored. The
//! record holds what the call's machine was fed — transcript text, tool
//! arguments and results — so it gets the same placeholders as the
//! transcript. Only the free-text fields are touched: ids, names and
//! numbers that steer the replay stay as they are, and the same text is
//! always redacted the same way, so a redacted record still replays
//! without divergence.

use serde_json::Value;

use super::{Redactor, Topic};
use crate::privacy::Level;

/// Fields whose string values are what people said or what tools returned.
const FREE_TEXT: [&str; 4] = ["text", "instructions", "message", "reason"];
/// Fields holding JSON documents as strings (tool arguments and results).
const JSON_TEXT: [&str; 2] = ["arguments", "output"];

/// `body` (JSON lines) with its free text redacted; lines that are not JSON
/// are kept as they are (the replay reports them).
pub fn redact_record(redactor: &Redactor, body: &str) -> String {
    if redactor.level() == Level::Off {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        if !may_hold_text(line) {
            // Most lines (audio, marks, wake-ups) are numbers and ids only:
            // kept as they are, without parsing them.
            out.push_str(line);
            out.push('\n');
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(mut v) => {
                walk(redactor, &mut v);
                out.push_str(&v.to_string());
            }
            Err(_) => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Whether a line names one of the fields redaction touches. Those only
/// ever sit inside a nested object (an event, a command), so a line with no
/// `{` but its own opening brace has none: one `memchr`, the common case.
/// Otherwise, a line that does not name a field cannot hold one (a key is
/// always written as `"key"`).
fn may_hold_text(line: &str) -> bool {
    if !line.get(1..).is_some_and(|rest| rest.contains('{')) {
        return false;
    }
    FREE_TEXT.iter().chain(JSON_TEXT.iter()).any(|key| {
        line.match_indices(key).any(|(i, _)| {
            i > 0 && line[i + key.len()..].starts_with('"') && line[..i].ends_with('"')
        })
    })
}

fn walk(redactor: &Redactor, v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if FREE_TEXT.contains(&key.as_str()) => {
                        let topic = Topic::of(s);
                        let r = redactor.text(s, topic).into_owned();
                        *s = r;
                    }
                    Value::String(s) if JSON_TEXT.contains(&key.as_str()) => {
                        *s = redactor.json(s);
                    }
                    other => walk(redactor, other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk(redactor, i)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_said_is_redacted_and_ids_are_kept() {
        let body = concat!(
            r#"{"chunk":0,"call":"CA00000000000000004242424242424242"}"#,
            "\n",
            r#"{"e":{"transcript":{"item_id":"4242424242424242","speaker":"caller","text":"my card is 4242 4242 4242 4242"}},"t":5}"#,
            "\n",
            r#"{"e":{"function_call":{"arguments":"{\"note\":\"card 4242424242424242\"}","call_id":"c1","name":"take_message"}},"t":6}"#,
            "\n"
        );
        let out = redact_record(&Redactor::new(Level::Standard), body);
        assert!(!out.contains("4242 4242 4242 4242"), "{out}");
        assert!(!out.contains("card 4242424242424242"), "{out}");
        assert!(out.contains("[card ••••4242]"), "{out}");
        assert!(out.contains("CA00000000000000004242424242424242"), "{out}");
        assert!(out.contains(r#""item_id":"4242424242424242""#), "{out}");
        // Lines without a field to redact are not even parsed.
        let audio = "{\"a\":[160,-20],\"o\":[160,\"1:100\"],\"t\":7}\n";
        assert!(!may_hold_text(audio));
        assert_eq!(redact_record(&Redactor::new(Level::Strict), audio), audio);
        assert!(may_hold_text(
            r#"{"e":{"model_failed":{"reason":"4242 4242 4242 4242"}},"t":3}"#
        ));
        assert!(!may_hold_text(r#"{"e":{"timer":"pace"},"t":3}"#));
        // Off: untouched, byte for byte.
        assert_eq!(redact_record(&Redactor::off(), body), body);
        // The same text, redacted twice, reads the same (replays agree).
        assert_eq!(redact_record(&Redactor::new(Level::Standard), &out), out);
    }
}
