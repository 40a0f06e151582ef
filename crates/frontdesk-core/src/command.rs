//! What the state machine asks the actors to do.

use serde::Serialize;

use super::cause::Cause;
use super::decision::Decision;
use super::transcript::Turn;
use super::transport::{SipCommand, Transport};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelCommand {
    /// The greeting response (instructions come from the business config).
    Greet,
    CreateResponse {
        instructions: Option<String>,
    },
    Truncate {
        item_id: String,
        audio_end_ms: u64,
    },
    Cancel,
    FunctionOutput {
        call_id: String,
        output: String,
    },
    /// Context the model should know (e.g. a key the caller pressed).
    SystemNote {
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TwilioCommand {
    Media(String),
    Mark(String),
    Clear,
}

/// How a call ended, stored on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The caller hung up during the conversation.
    CallerHungUp,
    /// The assistant ended the call (end_call tool).
    Completed,
    Transferred,
    /// Transfer failed and the caller left a voicemail, or chose to.
    Voicemail,
    /// Ended from the DTMF menu.
    Menu,
    MaxDuration,
    Silence,
    /// A pre-warmed call whose stream never arrived.
    Abandoned,
    /// The stream dropped and never came back.
    Lost,
    /// Ended by an operator.
    Hangup,
    /// Still open when its instance's drain ran out of time.
    Shutdown,
    /// Parked (menu, voicemail prompt) and Twilio never asked again: the
    /// caller left and no status callback said so.
    Gone,
    /// SIP: refused before it was answered (unknown number, a caller over
    /// the limit, a draining instance).
    Rejected,
    /// SIP: OpenAI refused our `accept` (the call had gone).
    AcceptFailed,
}

/// Facts for the call record (the recorder persists them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallRecord {
    /// The call arrived (numbers as Twilio or the SIP headers gave them).
    Started {
        from: String,
        to: String,
        transport: Transport,
    },
    Transition {
        from: &'static str,
        to: &'static str,
        cause: Cause,
    },
    Turn(Turn),
    Tool {
        call_id: String,
        name: String,
        arguments: String,
        output: String,
        latency_ms: u64,
    },
    ModelRestart {
        reason: String,
        attempt: usize,
    },
    ModelError {
        code: Option<String>,
        message: String,
    },
    Decision(Decision),
    /// A transfer was not answered: `status` is Twilio's `DialCallStatus`
    /// (`busy`, `no-answer`, `failed`, `canceled`).
    TransferFailed {
        department: String,
        status: String,
    },
    /// Token usage of one model response (from `response.done`).
    Usage(ModelUsage),
    Ended {
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelUsage {
    pub response_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub input_audio_tokens: u64,
    pub output_audio_tokens: u64,
    pub cached_tokens: u64,
}

/// Serialisable so the flight recorder can store what the machine asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Build a fresh model connection. `resume` carries the conversation to
    /// replay; `None` is the first connection.
    StartModel {
        resume: Option<Vec<Turn>>,
    },
    StopModel,
    Model(ModelCommand),
    Twilio(TwilioCommand),
    /// Play the short "one moment, please" clip.
    PlayHoldMessage,
    RunTool {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// Record the decision and close the stream; Twilio will ask for TwiML.
    LeaveStream(Decision),
    /// The TwiML answer to a pending webhook.
    Reply(Decision),
    /// SIP only: OpenAI's REST call for the call (refer, hangup).
    Sip(SipCommand),
    Record(CallRecord),
    /// The call is over: release everything.
    Finish(Outcome),
}
