//! One call: the actor that executes the sans-IO machine of
//! `frontdesk-core`, and the registry of live calls.

pub mod actor;
mod calls;
mod deps;
mod info;
mod model_setup;
pub mod registry;

pub use calls::Calls;
pub use deps::CallDeps;
pub use info::CallInfo;
pub use model_setup::ModelSetup;

pub use frontdesk_core::{answer_without_call, Call, Cause, MachineConfig};
pub use frontdesk_core::{
    command, decision, event, machine, playback, supervision, transcript, CallRecord, Command,
    Decision, Event, Farewell, MenuPrompt, ModelCommand, Outcome, ResponseStatus, State, StateName,
    Timer, ToolEffect, Transfer, TwilioCommand, Unexpected,
};

pub use crate::business::transfer_to;
use crate::config::Config;
use frontdesk_core::supervision::Budget;

/// The machine's knobs from the configuration, in milliseconds.
pub fn machine_config(c: &Config) -> MachineConfig {
    MachineConfig {
        pacing_lead_ms: c.call.pacing_lead_ms,
        barge_in_margin_ms: c.call.barge_in_margin_ms,
        hold_message_after_ms: c.call.hold_message_after_ms,
        tool_timeout_ms: c.call.tool_timeout_ms,
        silence_timeout_ms: c.call.silence_timeout_secs * 1000,
        max_call_ms: c.call.max_call_secs * 1000,
        stream_start_timeout_ms: c.call.stream_start_timeout_ms,
        model_ready_deadline_ms: c.call.model_ready_deadline_ms,
        session_ready_timeout_ms: c.realtime.session_ready_timeout_ms,
        response_timeout_ms: c.realtime.response_timeout_ms,
        session_cap_ms: c.realtime.session_cap_secs * 1000,
        budget: Budget {
            restarts: c.supervision.restart_budget,
            window_ms: c.supervision.restart_window_secs * 1000,
            backoff_initial_ms: c.supervision.backoff_initial_ms,
            backoff_max_ms: c.supervision.backoff_max_ms,
        },
        operator: c.business.operator().map(transfer_to),
    }
}
