//! One call: its pure state machine and the actor that executes it.

pub mod actor;
pub mod command;
pub mod decision;
pub mod event;
pub mod machine;
pub mod playback;
pub mod registry;
pub mod supervision;
pub mod transcript;

pub use command::{CallRecord, Command, ModelCommand, Outcome, TwilioCommand};
pub use decision::{Decision, Farewell, MenuPrompt, Transfer};
pub use event::{Event, ResponseStatus, Timer, ToolEffect};
pub use machine::{read_menu_input, Call, MachineConfig, MenuChoice, State, StateName, Unexpected};
