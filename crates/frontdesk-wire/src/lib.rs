//! Wire-level code shared by the Frontdesk engine and the simulators that
//! stand in for Twilio: one signer, so a request the caller simulator signs
//! is checked by exactly the code that checks Twilio's. Both are checked
//! against the official SDK by the project's oracle tests.

pub mod standard_webhooks;
pub mod twilio_signature;
