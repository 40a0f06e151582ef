//! Frontdesk: an AI voice receptionist.
//!
//! Library first, thin binary: everything the `frontdesk` binary does lives
//! here so the end-to-end tests can drive the real engine in-process.

pub mod codec;
pub mod realtime;
pub mod sim;
pub mod twilio;
pub mod config;
pub mod call;
pub mod tools;
pub mod instructions;
pub mod logmask;
pub mod metrics;
pub mod engine;
pub mod recorder;
pub mod http;
pub mod app;
pub mod simulate;
pub mod store;
pub mod session;
