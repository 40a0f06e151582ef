//! Conformance against the official SDKs: the pinned `openai` and `twilio`
//! Python packages, driven by the checker scripts in `tests/oracles/`.

// Test helpers panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model_sim_conformance;
mod openai_webhook_oracle;
mod standard_webhooks_oracle;
mod twilio_signature_oracle;
