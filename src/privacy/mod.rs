//! Privacy: what callers say that must not be kept verbatim, how long
//! records are kept, and a caller's requests to see or erase their data.
//!
//! Redaction runs where rows are built for storage and where notification
//! bodies are made (the recorder, `take_message`, the voicemail pipeline,
//! the outbox), never on the audio path: the model hears the caller and
//! gets tool arguments in the clear during the call.

mod detect;
mod digits;
pub mod flight;
pub mod requests;
pub mod retention;
mod strict;
mod tokens;
mod window;

#[cfg(test)]
mod corpus;

use std::borrow::Cow;

pub use detect::{apply, find, Finding, Kind, Level, Topic};
pub use window::RowRedactor;

/// Redacts text at one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redactor {
    level: Level,
}

impl Redactor {
    pub fn new(level: Level) -> Redactor {
        Redactor { level }
    }

    /// No redaction at all.
    pub fn off() -> Redactor {
        Redactor { level: Level::Off }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// `text` with what it holds replaced by placeholders; borrowed when
    /// nothing was found.
    pub fn text<'a>(&self, text: &'a str, topic: Topic) -> Cow<'a, str> {
        let found = find(text, self.level, topic);
        if found.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(apply(text, &found))
        }
    }

    /// A JSON document (tool arguments and results, event payloads) with
    /// every string value redacted; keys name the topic ("date_of_birth").
    /// Text that is not JSON is redacted as text.
    pub fn json(&self, raw: &str) -> String {
        if self.level == Level::Off {
            return raw.to_string();
        }
        let topic = Topic::of(raw);
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(mut v) => {
                if self.value(&mut v, topic) {
                    serde_json::to_string(&v).unwrap_or_else(|_| raw.to_string())
                } else {
                    raw.to_string()
                }
            }
            Err(_) => self.text(raw, topic).into_owned(),
        }
    }

    /// Redacts in place; true when anything changed.
    fn value(&self, v: &mut serde_json::Value, topic: Topic) -> bool {
        use serde_json::Value;
        match v {
            Value::String(s) => match self.text(s, topic) {
                Cow::Owned(r) => {
                    *s = r;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |acc, item| self.value(item, topic) | acc),
            Value::Object(map) => map
                .values_mut()
                .fold(false, |acc, item| self.value(item, topic) | acc),
            _ => false,
        }
    }
}

/// The redactor of the configured business.
pub fn redactor(config: &crate::config::Config) -> Redactor {
    Redactor::new(config.business.privacy.redaction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_redacted_keys_and_shape_kept() {
        let r = Redactor::new(Level::Strict);
        let out = r.json(
            r#"{"name":"Ada","date_of_birth":"1985-03-03","note":"card 4242424242424242","n":3}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["name"], "Ada");
        assert_eq!(v["date_of_birth"], "[date of birth]");
        assert_eq!(v["note"], "card [card ••••4242]");
        assert_eq!(v["n"], 3);
        assert_eq!(
            r.json("not json 4242424242424242"),
            "not json [card ••••4242]"
        );
        assert_eq!(Redactor::off().json("4242424242424242"), "4242424242424242");
    }
}
