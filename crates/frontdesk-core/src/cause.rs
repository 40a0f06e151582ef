//! Why a call changed state. Typed so that code reacting to a transition
//! (metrics, tests) matches on a variant instead of parsing words; rendered
//! to the same sentence the call record has always stored.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    StreamStarted,
    ModelReady,
    CallerHungUp,
    StreamLost,
    StreamNeverStarted,
    MaxCallDuration,
    /// An operator or shutdown asked; the reason is theirs.
    HangupRequested {
        reason: String,
    },
    /// The instance is shutting down and its drain ran out of time.
    Shutdown,
    ModelNotReadyInTime,
    ModelUnavailable {
        reason: String,
    },
    OperatorKeyClosed,
    OperatorKey,
    CallerSpokeOverGreeting,
    CallerSpoke,
    GreetingPlayed,
    FunctionCall,
    ToolFinished {
        name: String,
    },
    ToolDeadline,
    AssistantTransfer,
    AssistantVoicemail,
    AssistantMenu,
    AssistantEnded,
    CallerSilent,
    /// `status` is Twilio's `DialCallStatus`.
    DialFinished {
        status: String,
    },
    DialBackToAssistant {
        status: String,
    },
    RecordingFinished,
    MenuOperatorClosed,
    MenuOperator,
    MenuMessage,
    MenuGaveUp,
    /// Twilio's status callback said the call is over; `status` is its
    /// `CallStatus`.
    CallEnded {
        status: String,
    },
    /// A parked state heard nothing from Twilio for longer than it can last.
    ParkedTooLong,
    /// Still in the transfer past its ring time and no dial outcome: the
    /// callee answered (an unanswered dial reports back when it stops ringing).
    TransferPresumedAnswered,
    /// The instance that held the call was lost; this one took it over.
    ResumedAfterFailover,
}

impl Cause {
    /// A stable key, independent of the data a cause carries (the transition
    /// table names causes by it).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::StreamStarted => "stream_started",
            Cause::ModelReady => "model_ready",
            Cause::CallerHungUp => "caller_hung_up",
            Cause::StreamLost => "stream_lost",
            Cause::StreamNeverStarted => "stream_never_started",
            Cause::MaxCallDuration => "max_call_duration",
            Cause::HangupRequested { .. } => "hangup_requested",
            Cause::Shutdown => "shutdown",
            Cause::ModelNotReadyInTime => "model_not_ready_in_time",
            Cause::ModelUnavailable { .. } => "model_unavailable",
            Cause::OperatorKeyClosed => "operator_key_closed",
            Cause::OperatorKey => "operator_key",
            Cause::CallerSpokeOverGreeting => "caller_spoke_over_greeting",
            Cause::CallerSpoke => "caller_spoke",
            Cause::GreetingPlayed => "greeting_played",
            Cause::FunctionCall => "function_call",
            Cause::ToolFinished { .. } => "tool_finished",
            Cause::ToolDeadline => "tool_deadline",
            Cause::AssistantTransfer => "assistant_transfer",
            Cause::AssistantVoicemail => "assistant_voicemail",
            Cause::AssistantMenu => "assistant_menu",
            Cause::AssistantEnded => "assistant_ended",
            Cause::CallerSilent => "caller_silent",
            Cause::DialFinished { .. } => "dial_finished",
            Cause::DialBackToAssistant { .. } => "dial_back_to_assistant",
            Cause::RecordingFinished => "recording_finished",
            Cause::MenuOperatorClosed => "menu_operator_closed",
            Cause::MenuOperator => "menu_operator",
            Cause::MenuMessage => "menu_message",
            Cause::MenuGaveUp => "menu_gave_up",
            Cause::CallEnded { .. } => "call_ended",
            Cause::ParkedTooLong => "parked_too_long",
            Cause::TransferPresumedAnswered => "transfer_presumed_answered",
            Cause::ResumedAfterFailover => "resumed_after_failover",
        }
    }

    /// The call fell back to the menu because the model could not serve it.
    pub fn is_model_fallback(&self) -> bool {
        matches!(
            self,
            Cause::ModelNotReadyInTime | Cause::ModelUnavailable { .. }
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::StreamStarted => f.write_str("stream started"),
            Cause::ModelReady => f.write_str("model ready"),
            Cause::CallerHungUp => f.write_str("caller hung up"),
            Cause::StreamLost => f.write_str("stream lost"),
            Cause::StreamNeverStarted => f.write_str("stream never started"),
            Cause::MaxCallDuration => f.write_str("max call duration"),
            Cause::HangupRequested { reason } => f.write_str(reason),
            Cause::Shutdown => f.write_str("the instance shut down"),
            Cause::ModelNotReadyInTime => f.write_str("model not ready in time"),
            Cause::ModelUnavailable { reason } => write!(f, "model unavailable: {reason}"),
            Cause::OperatorKeyClosed => f.write_str("caller pressed 0; operator closed"),
            Cause::OperatorKey => f.write_str("caller pressed 0"),
            Cause::CallerSpokeOverGreeting => f.write_str("caller spoke over the greeting"),
            Cause::CallerSpoke => f.write_str("caller spoke"),
            Cause::GreetingPlayed => f.write_str("greeting played"),
            Cause::FunctionCall => f.write_str("function call"),
            Cause::ToolFinished { name } => write!(f, "{name} finished"),
            Cause::ToolDeadline => f.write_str("tool deadline passed"),
            Cause::AssistantTransfer => f.write_str("transfer"),
            Cause::AssistantVoicemail => f.write_str("voicemail"),
            Cause::AssistantMenu => f.write_str("menu"),
            Cause::AssistantEnded => f.write_str("assistant ended the call"),
            Cause::CallerSilent => f.write_str("caller silent"),
            Cause::DialFinished { status } => write!(f, "dial {status}"),
            Cause::DialBackToAssistant { status } => {
                write!(f, "dial {status}: back to the assistant")
            }
            Cause::RecordingFinished => f.write_str("recording finished"),
            Cause::MenuOperatorClosed => f.write_str("menu: operator closed"),
            Cause::MenuOperator => f.write_str("menu: operator"),
            Cause::MenuMessage => f.write_str("menu: message"),
            Cause::MenuGaveUp => f.write_str("menu: no usable input"),
            Cause::CallEnded { status } => write!(f, "call {status} at Twilio"),
            Cause::ParkedTooLong => f.write_str("no word from Twilio while parked"),
            Cause::TransferPresumedAnswered => f.write_str("transfer past its ring time: answered"),
            Cause::ResumedAfterFailover => f.write_str("resumed after its instance was lost"),
        }
    }
}

/// Stored as the sentence, as it always was.
impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_stored_sentence() {
        let c = Cause::DialBackToAssistant {
            status: "busy".into(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "\"dial busy: back to the assistant\""
        );
        assert!(Cause::ModelNotReadyInTime.is_model_fallback());
        assert!(!Cause::MenuOperator.is_model_fallback());
    }
}
