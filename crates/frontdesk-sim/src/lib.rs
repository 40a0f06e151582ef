//! Simulators of the services Frontdesk talks to.
//!
//! They are part of the product, not test scaffolding: with them a new user
//! can place a complete call (`frontdesk simulate`) without a Twilio or an
//! OpenAI account, and the end-to-end tests drive the real engine against
//! them. Each simulator is written independently of the engine's own
//! protocol types (it builds and reads raw JSON), and this crate depends on
//! none of the engine's internals, so a bug in the engine's
//! types cannot hide behind the same bug in its simulator.

pub mod audio;
pub mod balancer;
pub mod caller;
pub mod cluster;
pub mod failover;
pub mod google_calendar;
pub mod load;
pub mod microsoft_graph;
pub mod model;
pub mod openai_webhook;
pub mod transcription;
pub mod twilio_rest;
pub mod webhook_receiver;
