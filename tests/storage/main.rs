//! Storage, sessions, notifications and the voicemail pipeline against real
//! PostgreSQL and Redis (and SQLite), without placing calls.

// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../calendar_support/mod.rs"]
mod calendar_support;
#[path = "../store_support/mod.rs"]
mod store_support;
#[path = "../voicemail_common/mod.rs"]
mod voicemail_common;

mod bookings_store;
mod calendar_adapters;
mod notify_delivery;
mod notify_store;
mod privacy_store;
mod receptionist_store;
mod session_degraded;
mod session_memory;
mod session_outage;
mod session_redis;
mod store_appointments;
mod store_connect;
mod store_flight;
mod store_record;
mod store_retention;
mod voicemail_pipeline;
