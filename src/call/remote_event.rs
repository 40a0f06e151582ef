//! Call events as they travel between instances (through the session
//! store): the webhooks Twilio sent to an instance that does not hold the
//! call, and the word that a call's stream started elsewhere.

use serde::{Deserialize, Serialize};

use super::Event;

/// A webhook event as it travels between instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RemoteEvent {
    AfterStream,
    MenuInput {
        digits: Option<String>,
        speech: Option<String>,
        #[serde(default)]
        operator_open: bool,
    },
    DialFinished {
        status: String,
    },
    RecordingFinished,
    CallEnded {
        status: String,
    },
    /// Not a webhook: the call's stream started at the sending instance, so
    /// a call pre-warmed here for it (the voice webhook landed here) is to
    /// end without a record.
    Moved,
}

impl RemoteEvent {
    pub fn from_event(e: &Event) -> Option<RemoteEvent> {
        Some(match e {
            Event::AfterStream => RemoteEvent::AfterStream,
            Event::MenuInput {
                digits,
                speech,
                operator_open,
            } => RemoteEvent::MenuInput {
                digits: digits.clone(),
                speech: speech.clone(),
                operator_open: *operator_open,
            },
            Event::DialFinished { status } => RemoteEvent::DialFinished {
                status: status.clone(),
            },
            Event::RecordingFinished => RemoteEvent::RecordingFinished,
            Event::CallEnded { status } => RemoteEvent::CallEnded {
                status: status.clone(),
            },
            _ => return None,
        })
    }

    /// The machine event; `None` for `Moved`, which is for the actor.
    pub fn into_event(self) -> Option<Event> {
        Some(match self {
            RemoteEvent::AfterStream => Event::AfterStream,
            RemoteEvent::MenuInput {
                digits,
                speech,
                operator_open,
            } => Event::MenuInput {
                digits,
                speech,
                operator_open,
            },
            RemoteEvent::DialFinished { status } => Event::DialFinished { status },
            RemoteEvent::RecordingFinished => Event::RecordingFinished,
            RemoteEvent::CallEnded { status } => Event::CallEnded { status },
            RemoteEvent::Moved => return None,
        })
    }
}
