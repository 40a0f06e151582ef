//! Everything that can happen to a call, as plain data. Actors turn socket
//! frames, webhooks and timers into these; the state machine consumes them.

use super::decision::Transfer;
use super::playback::Millis;
use super::transcript::Speaker;

/// Timers are data: the machine arms them in its own table, the executor
/// wakes it at `Call::poll_timeout()` and `Call::handle_timeout(now)` feeds
/// each due one back as `Event::Timer`; the machine never reads a clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Release more paced outbound audio.
    Pace,
    /// The stream should have started by now (pre-warmed call abandoned).
    StreamStart,
    /// The stream is up but the model is still not ready.
    ModelReadyDeadline,
    /// `session.update` sent; `session.updated` overdue.
    SessionReady,
    /// A committed caller turn is still unanswered.
    ResponseDeadline,
    /// Backoff over: start a fresh model connection.
    ModelRestart,
    /// The model gap is long enough to tell the caller "one moment".
    HoldMessage,
    /// Recycle the model connection before the provider's session cap.
    Recycle,
    Silence,
    MaxDuration,
    /// A tool run overran its deadline.
    Tool(String),
    /// Leave after the closing words had time to play, marks or not.
    ExitDeadline,
    /// The stream dropped without a `stop`; give up waiting for a new one.
    StreamLost,
    /// A parked state (menu, voicemail prompt, ringing transfer) has heard
    /// nothing from Twilio for longer than that state can last.
    Parked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    Completed,
    Cancelled,
    Failed,
    Incomplete,
}

/// What a finished tool asks of the call besides its output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolEffect {
    None,
    /// Hang up once the closing words have played.
    EndCall,
    /// Put the call through once the announcement has played.
    Transfer(Transfer),
    Voicemail {
        department: Option<String>,
    },
}

/// Serialisable: the flight recorder stores every event a call fed its
/// machine (variant names are the stored kinds; renaming one is a format change).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    // From the Twilio stream.
    StreamStarted {
        stream_sid: String,
    },
    /// Twilio sent `stop`: the caller hung up or the call was taken elsewhere.
    StreamStopped,
    /// The socket closed without a `stop`.
    StreamLost,
    /// A key press; `operator_open`: whether the operator's department is
    /// open right now (the actor reads the clock, the machine never does).
    Dtmf {
        digit: char,
        operator_open: bool,
    },
    Mark {
        name: String,
    },
    /// SIP only: OpenAI started or stopped playing the assistant's audio
    /// (`output_audio_buffer.started` / `.stopped` / `.cleared`), the
    /// SIP path's stand-in for marks.
    OutputAudio {
        playing: bool,
    },
    /// From the codec's meter: the caller started/stopped making sound.
    CallerVoice {
        speaking: bool,
    },

    // From the model connection.
    ModelReady,
    ModelFailed {
        reason: String,
    },
    SpeechStarted,
    Committed {
        item_id: String,
    },
    ResponseCreated {
        response_id: String,
    },
    AudioDelta {
        response_id: String,
        item_id: String,
        payload: String,
    },
    Transcript {
        speaker: Speaker,
        item_id: String,
        text: String,
    },
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    ResponseDone {
        response_id: String,
        status: ResponseStatus,
    },
    ModelError {
        code: Option<String>,
        message: String,
    },

    // From tools.
    ToolFinished {
        call_id: String,
        name: String,
        output: String,
        effect: ToolEffect,
        latency_ms: u64,
    },

    Timer(Timer),

    // From Twilio webhooks after the stream was left.
    AfterStream,
    MenuInput {
        digits: Option<String>,
        speech: Option<String>,
        /// As for `Dtmf`.
        operator_open: bool,
    },
    DialFinished {
        status: String,
    },
    RecordingFinished,
    /// An operator asks the call to end now.
    Hangup {
        reason: String,
    },
    /// The instance is going away and the call is still open.
    Shutdown,
    /// Twilio's call status callback: the call is over at Twilio
    /// (`completed`, `busy`, `failed`, `no-answer`, `canceled`), whatever
    /// the call was doing.
    CallEnded {
        status: String,
    },
}

impl Event {
    /// A short name for logs and `Unexpected` errors.
    pub fn name(&self) -> &'static str {
        match self {
            Event::StreamStarted { .. } => "stream start",
            Event::StreamStopped => "stream stop",
            Event::StreamLost => "stream lost",
            Event::Dtmf { .. } => "dtmf",
            Event::Mark { .. } => "mark",
            Event::OutputAudio { .. } => "output audio",
            Event::CallerVoice { .. } => "caller voice",
            Event::ModelReady => "model ready",
            Event::ModelFailed { .. } => "model failed",
            Event::SpeechStarted => "speech started",
            Event::Committed { .. } => "caller turn committed",
            Event::ResponseCreated { .. } => "response created",
            Event::AudioDelta { .. } => "model audio",
            Event::Transcript { .. } => "transcript",
            Event::FunctionCall { .. } => "function call",
            Event::ResponseDone { .. } => "response done",
            Event::ModelError { .. } => "model error",
            Event::ToolFinished { .. } => "tool finished",
            Event::Timer(_) => "timer",
            Event::AfterStream => "after-stream request",
            Event::MenuInput { .. } => "menu input",
            Event::DialFinished { .. } => "dial finished",
            Event::RecordingFinished => "recording finished",
            Event::Hangup { .. } => "hangup request",
            Event::Shutdown => "shutdown",
            Event::CallEnded { .. } => "call ended",
        }
    }
}

/// Time of an event, for readability at call sites.
pub type At = Millis;
