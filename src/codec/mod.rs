//! Audio between the Twilio leg and the model leg.
//!
//! Twilio Media Streams carry G.711 mu-law at 8 kHz. When the model also
//! speaks `audio/pcmu`, audio is passed through as the very base64 strings
//! that arrived: decoding and re-encoding would cost CPU on every 20 ms
//! frame of every call and could only lose quality. The caller's audio is
//! still decoded once, to meter it for speech start/stop.
//!
//! Only providers that want PCM16 at 24 kHz pay for transcoding: mu-law
//! decode and 8 -> 24 kHz upsampling toward the model, 24 -> 8 kHz
//! downsampling and mu-law encode back. All of it is table- or
//! fixed-buffer-driven, with no per-sample allocation, so one core can carry
//! hundreds of calls.
//!
//! The math (mu-law, resampling, metering) is in `frontdesk-core`; here is
//! the per-call [`CodecActor`] that runs it.

pub mod actor;
pub mod caller_meter;

pub use frontdesk_core::codec::{meter, mulaw, resample};

pub use caller_meter::CallerMeter;

pub use actor::{
    AudioTag, CallerFrame, CodecActor, CodecEvent, CodecMode, ModelAudio, RouteToModel,
};
