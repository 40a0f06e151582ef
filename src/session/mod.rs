//! Live-session registry for running several engine instances behind a load
//! balancer (design §4): which instance owns which call, delivery of commands
//! to the owning instance, webhook idempotency and per-caller rate limits.
//! Backed by Redis when configured, by this process's memory otherwise; when
//! Redis is unreachable every operation falls back to local state and
//! [`SessionStore::health`] reports the store as degraded.

mod core;
mod error;
mod health;
mod heartbeat;
mod inbox;
mod keys;
mod link;
mod listener;
mod local;
mod options;
mod store;

pub use error::SessionError;
pub use health::Health;
pub use inbox::{InboxRequest, Responder};
pub use options::{SessionOptions, HEARTBEAT_EVERY, OP_TIMEOUT, OWNER_TTL};
pub use store::{generate_instance_id, SessionStore};
