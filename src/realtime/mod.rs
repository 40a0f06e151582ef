//! The OpenAI Realtime (GA) protocol, as the engine speaks it.
//!
//! `session` builds the session configuration and the connection URL;
//! `events` builds the client events and parses the server events into typed
//! values. Field names follow the official SDK (see
//! `shared/protocols/openai-realtime.md`); beta event names are accepted on
//! input because some compatible servers still send them.

pub mod actor;
pub mod audio_sink;
pub mod events;
pub mod portable;
pub mod session;
