//! One call: the actor that executes the sans-IO machine of
//! `frontdesk-core`, and the registry of live calls.

pub mod actor;
mod calls;
mod deps;
mod info;
mod model_setup;
pub mod registry;
mod remote_event;

pub use calls::{Calls, ResumedCall};
pub use deps::CallDeps;
pub use info::CallInfo;
pub use model_setup::ModelSetup;
pub use remote_event::RemoteEvent;

pub use frontdesk_core::{answer_without_call, Call, Cause, MachineConfig, Parking};
pub use frontdesk_core::{
    command, decision, event, machine, playback, supervision, transcript, CallRecord, Command,
    Decision, Event, Farewell, MenuPrompt, ModelCommand, Outcome, ResponseStatus, State, StateName,
    Timer, ToolEffect, Transfer, TwilioCommand, Unexpected,
};

pub use crate::business::transfer_to;
use crate::config::Config;
use frontdesk_core::supervision::Budget;

/// Seconds the callee's phone rings before the transfer counts as unanswered.
pub const DIAL_TIMEOUT_SECS: u32 = 20;
/// Longest voicemail, in seconds.
pub const VOICEMAIL_MAX_SECS: u32 = 120;
/// Seconds of silence that end a voicemail recording.
pub const RECORD_SILENCE_SECS: u32 = 5;
/// What a parked state allows beyond Twilio's own timing: webhook latency
/// and retries.
const PARKING_SLACK_MS: u64 = 30_000;
/// A `<Gather>` round (prompt, 6 s wait) repeats well within this.
const MENU_IDLE_MS: u64 = 60_000;

/// SIP: the configured fallback number as a transfer target (the Twilio
/// menu runs there); `None` when unset (the operator takes such calls).
pub fn sip_fallback(c: &Config) -> Option<frontdesk_core::Transfer> {
    let number = c.realtime.sip_fallback_number.trim();
    (!number.is_empty()).then(|| frontdesk_core::Transfer {
        department: "fallback".into(),
        number: number.to_string(),
        on_no_answer: frontdesk_core::OnNoAnswer::Voicemail,
    })
}

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
        parking: Parking {
            menu_ms: MENU_IDLE_MS,
            recording_ms: u64::from(VOICEMAIL_MAX_SECS + RECORD_SILENCE_SECS) * 1000
                + PARKING_SLACK_MS,
            dial_ring_ms: u64::from(DIAL_TIMEOUT_SECS) * 1000 + PARKING_SLACK_MS,
        },
        // The Twilio path; a SIP call sets its own (`sip::machine_config`).
        transport: frontdesk_core::Transport::Twilio,
        sip_fallback: None,
    }
}
