//! End-to-end calls over real sockets: the engine, the Twilio caller and
//! Realtime model simulators, and real PostgreSQL/Redis where a test needs them.

// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../calendar_support/mod.rs"]
mod calendar_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../store_support/mod.rs"]
mod store_support;
#[path = "../voicemail_common/mod.rs"]
mod voicemail_common;

mod bad_input;
mod barge_in;
mod bookings_call;
mod calendar_calls;
mod call_flow;
mod drain;
mod failover;
mod integrations_call;
mod parked;
mod privacy_call;
mod receptionist_calls;
mod replay_corpus;
mod sip;
mod slow_clients;
mod supervision;
mod threads;
mod transfers;
mod two_instances;
mod voicemail_flow;
