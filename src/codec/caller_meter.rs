//! [`CallerMeter`]: speech start/stop on caller audio where the frame
//! already is (the Twilio stream actor), so `pcmu` passthrough needs no hop
//! to the [`CodecActor`](super::CodecActor) and no copy of the payload.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::actor::{VOICE_HANGOVER_FRAMES, VOICE_THRESHOLD_DBFS};
use super::meter::{mulaw_energy_dbfs, VoiceDetector};

pub struct CallerMeter {
    detector: VoiceDetector,
    /// Decoded mu-law of the frame being metered, reused.
    bytes: Vec<u8>,
}

impl Default for CallerMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl CallerMeter {
    pub fn new() -> Self {
        CallerMeter {
            detector: VoiceDetector::new(VOICE_THRESHOLD_DBFS, VOICE_HANGOVER_FRAMES),
            bytes: Vec::with_capacity(160),
        }
    }

    /// Meters one base64 mu-law frame: `Some(true)` when speech starts,
    /// `Some(false)` when it stops, `None` otherwise.
    pub fn push(&mut self, payload_b64: &str) -> Result<Option<bool>, base64::DecodeError> {
        self.bytes.clear();
        STANDARD.decode_vec(payload_b64, &mut self.bytes)?;
        Ok(self.detector.push(mulaw_energy_dbfs(&self.bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_starts_and_stops_like_the_codec_actor_says() {
        let mut m = CallerMeter::new();
        let loud = STANDARD.encode([0x00u8; 160]); // mu-law 0x00: near full scale
        let quiet = STANDARD.encode([0xFFu8; 160]); // mu-law 0xFF: zero
        assert_eq!(m.push(&quiet).unwrap(), None);
        assert_eq!(m.push(&loud).unwrap(), Some(true));
        assert_eq!(m.push(&loud).unwrap(), None);
        let stops: Vec<_> = (0..VOICE_HANGOVER_FRAMES + 1)
            .filter_map(|_| m.push(&quiet).unwrap())
            .collect();
        assert_eq!(stops, vec![false]);
        assert!(m.push("not base64!").is_err());
    }
}
