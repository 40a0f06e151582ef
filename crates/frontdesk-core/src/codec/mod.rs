//! The audio math between the Twilio leg (G.711 mu-law, 8 kHz) and a model
//! that wants PCM16 at 24 kHz. Table- or fixed-buffer-driven, with no
//! per-sample allocation; the engine's codec actor drives it.
//!
//! - [`mulaw`]: G.711 mu-law, bit-exact with ITU-T G.191.
//! - [`resample`]: polyphase FIR 8 kHz <-> 24 kHz with state across frames.
//! - [`meter`]: frame levels in dBFS and a hangover voice detector.

pub mod meter;
pub mod mulaw;
pub mod resample;
