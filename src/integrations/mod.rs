//! The business's own integrations over HTTP: its tools (called during a
//! call, `crate::tools::http`) and its event webhooks (queued in the outbox,
//! `crate::notify::webhook`). Both send JSON signed the Standard Webhooks way
//! (`frontdesk_wire::standard_webhooks`) through a client that refuses
//! private, loopback and link-local targets unless the business allows them.

pub mod events;
pub mod guard;
pub mod signed;

pub use signed::{send_signed, Answer, OutboundError, SignedRequest};
