//! Frontdesk's call core, sans-IO.
//!
//! Everything here is a pure function of its inputs: the call state machine
//! (`Call::step(event, now) -> commands`), the bookkeeping it needs
//! (playback and barge-in, transcript, restart budget) and the audio math
//! (G.711 mu-law, 8 <-> 24 kHz resampling, metering). Time comes in as an
//! argument and timers live in a table the executor polls, so the whole core runs under a
//! virtual clock in tests and under actix in the engine. It depends on no
//! runtime, actor, database or HTTP crate — keep it that way: the engine
//! adapts the world to this crate, never the other way round.

pub mod cause;
pub mod codec;
pub mod command;
pub mod decision;
pub mod event;
pub mod machine;
pub mod playback;
pub mod supervision;
pub mod transcript;
pub mod transport;

pub use cause::Cause;
pub use command::{CallRecord, Command, ModelCommand, Outcome, TwilioCommand};
pub use decision::{Decision, Farewell, MenuPrompt, OnNoAnswer, Transfer};
pub use event::{Event, ResponseStatus, Timer, ToolEffect};
pub use machine::{
    answer_without_call, Call, MachineConfig, Parking, State, StateName, Unexpected,
};
pub use transport::{refer_target, SipCommand, Transport};
