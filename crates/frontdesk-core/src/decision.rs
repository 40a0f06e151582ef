//! What a call does when it leaves the AI conversation. The engine records
//! the decision, closes the stream, and answers Twilio's `<Connect action>`
//! request with the TwiML for it — no REST call needed.

use serde::{Deserialize, Serialize};

/// A person or department the call can be put through to. Only numbers from
/// the configured directory ever get here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub department: String,
    pub number: String,
    /// What happens when nobody answers.
    #[serde(default)]
    pub on_no_answer: OnNoAnswer,
}

/// What a department does when a transfer is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnNoAnswer {
    /// The caller leaves a voicemail for the department.
    #[default]
    Voicemail,
    /// The caller goes back to the assistant.
    Assistant,
}

/// Canned closing lines, rendered by the HTTP layer in the business's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Farewell {
    /// The conversation already said goodbye.
    None,
    Goodbye,
    TimeLimit,
    NoResponse,
    MessageTaken,
}

/// Why the call is in the menu or the voicemail box, for the prompt wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuPrompt {
    /// First time in the menu (the assistant is unavailable).
    Welcome,
    /// After reading the hours.
    Hours,
    /// The last input was not understood.
    Retry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    Menu {
        prompt: MenuPrompt,
    },
    Voicemail {
        department: Option<String>,
    },
    Transfer(Transfer),
    Hangup {
        farewell: Farewell,
    },
    /// The stream dropped without a decision: open a fresh one.
    Reconnect,
}

impl Decision {
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Menu { .. } => "menu",
            Decision::Voicemail { .. } => "voicemail",
            Decision::Transfer(_) => "transfer",
            Decision::Hangup { .. } => "hangup",
            Decision::Reconnect => "reconnect",
        }
    }
}
