//! Frontdesk: an AI voice receptionist.
//!
//! Library first, thin binary: everything the `frontdesk` binary does lives
//! here so the end-to-end tests can drive the real engine in-process.

pub mod app;
pub mod business;
pub mod calendar;
pub mod call;
pub mod codec;
pub mod config;
pub mod flight;
pub mod http;
pub mod instructions;
pub mod integrations;
pub mod logmask;
pub mod media_stream;
pub mod metrics;
pub mod notify;
pub mod privacy;
pub mod realtime;
pub mod recorder;
pub mod session;
pub mod simulate;
pub mod sip;
pub mod store;
pub mod tools;
pub mod twilio;
pub mod voicemail;

#[cfg(test)]
mod module_graph;
