//! Twilio Programmable Voice, at the wire level.
//!
//! Everything here follows Twilio's documented wire formats to the field name:
//! - [`signature`] (from `frontdesk-wire`): `X-Twilio-Signature` checks for webhooks and the Media
//!   Streams WebSocket upgrade;
//! - [`twiml`]: a typed TwiML builder whose output matches the official SDK;
//! - [`media`]: Media Streams JSON frames in both directions, and [`ToTwilio`],
//!   what a call sends down its stream;
//! - [`rest`]: the REST calls used during and after a call.

pub mod media;
mod outbound;
pub mod rest;
pub use frontdesk_wire::twilio_signature as signature;
pub mod twiml;

pub use outbound::ToTwilio;
