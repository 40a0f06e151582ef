//! Per-frame audio level and a hysteresis voice detector, used to notice
//! caller speech and silence without asking the model.
//!
//! Levels are mean power relative to a full-scale square wave
//! (0 dBFS = every sample at ±32768; a full-scale sine reads about -3 dBFS).
//! Digital silence reads `f32::NEG_INFINITY`.

use super::mulaw::DECODED;

/// Power of one full-scale sample, the 0 dBFS reference.
const FULL_SCALE_POWER: f64 = 32_768.0 * 32_768.0;

/// Squared decoded value of every mu-law code, so metering a Twilio frame is
/// one table lookup and one integer add per byte. The largest entry
/// (32124² ≈ 1.03e9) fits a `u32`.
static SQUARED_MAGNITUDE: [u32; 256] = build_squared_table();

const fn build_squared_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let value = DECODED[i] as i32;
        table[i] = (value * value) as u32;
        i += 1;
    }
    table
}

fn power_to_dbfs(sum_of_squares: u64, samples: usize) -> f32 {
    if sum_of_squares == 0 || samples == 0 {
        return f32::NEG_INFINITY;
    }
    let mean = sum_of_squares as f64 / samples as f64;
    (10.0 * (mean / FULL_SCALE_POWER).log10()) as f32
}

/// Level of a mu-law frame in dBFS (`NEG_INFINITY` for silence or an empty
/// frame).
pub fn mulaw_energy_dbfs(frame: &[u8]) -> f32 {
    // u64: even an hour of full-scale audio cannot overflow it.
    let sum: u64 = frame
        .iter()
        .map(|&b| u64::from(SQUARED_MAGNITUDE[usize::from(b)]))
        .sum();
    power_to_dbfs(sum, frame.len())
}

/// The level of mu-law audio that arrives in pieces: the same figure as
/// [`mulaw_energy_dbfs`] of the pieces joined, without joining them.
#[derive(Debug, Default, Clone, Copy)]
pub struct MulawEnergy {
    sum: u64,
    samples: usize,
}

impl MulawEnergy {
    pub fn push(&mut self, piece: &[u8]) {
        self.sum += piece
            .iter()
            .map(|&b| u64::from(SQUARED_MAGNITUDE[usize::from(b)]))
            .sum::<u64>();
        self.samples += piece.len();
    }

    pub fn dbfs(&self) -> f32 {
        power_to_dbfs(self.sum, self.samples)
    }
}

/// Level of a PCM16 frame in dBFS (`NEG_INFINITY` for silence or an empty
/// frame).
pub fn pcm_energy_dbfs(frame: &[i16]) -> f32 {
    let sum: u64 = frame
        .iter()
        .map(|&s| {
            let s = i64::from(s);
            (s * s) as u64
        })
        .sum();
    power_to_dbfs(sum, frame.len())
}

/// Turns a stream of per-frame levels into speech start/stop events.
///
/// Speech starts on the first frame at or above the threshold and stops only
/// after `hangover_frames` consecutive frames below it, so the pauses between
/// words and syllables do not flap the state.
#[derive(Clone, Debug)]
pub struct VoiceDetector {
    threshold_dbfs: f32,
    hangover_frames: u32,
    speaking: bool,
    quiet_run: u32,
}

impl VoiceDetector {
    pub fn new(threshold_dbfs: f32, hangover_frames: u32) -> Self {
        Self {
            threshold_dbfs,
            hangover_frames,
            speaking: false,
            quiet_run: 0,
        }
    }

    /// Whether the detector currently considers the caller to be speaking.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds one frame's level. Returns `Some(true)` when speech starts,
    /// `Some(false)` when it stops, `None` when nothing changed. A NaN level
    /// counts as quiet.
    pub fn push(&mut self, dbfs: f32) -> Option<bool> {
        let loud = dbfs >= self.threshold_dbfs;
        if !self.speaking {
            if loud {
                self.speaking = true;
                self.quiet_run = 0;
                return Some(true);
            }
            return None;
        }
        if loud {
            self.quiet_run = 0;
            return None;
        }
        self.quiet_run = self.quiet_run.saturating_add(1);
        if self.quiet_run >= self.hangover_frames {
            self.speaking = false;
            self.quiet_run = 0;
            return Some(false);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::mulaw;
    use super::*;

    #[test]
    fn silence_is_minus_infinity() {
        assert_eq!(mulaw_energy_dbfs(&[0xFF; 160]), f32::NEG_INFINITY);
        assert_eq!(mulaw_energy_dbfs(&[0x7F; 160]), f32::NEG_INFINITY);
        assert_eq!(mulaw_energy_dbfs(&[]), f32::NEG_INFINITY);
        assert_eq!(pcm_energy_dbfs(&[0; 480]), f32::NEG_INFINITY);
        assert_eq!(pcm_energy_dbfs(&[]), f32::NEG_INFINITY);
    }

    #[test]
    fn smallest_mulaw_step_is_very_low() {
        // ±8, the first non-zero codes.
        let level = mulaw_energy_dbfs(&[0xFE, 0x7E].repeat(80));
        let expected = 20.0 * (8.0f32 / 32_768.0).log10();
        assert!((level - expected).abs() < 0.01, "{level}");
        assert!(level < -70.0);
    }

    #[test]
    fn full_scale() {
        assert!(pcm_energy_dbfs(&[i16::MIN; 160]).abs() < 1e-6);
        let square: Vec<i16> = (0..160)
            .map(|n| if n % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        assert!(pcm_energy_dbfs(&square).abs() < 0.001);
        // Largest mu-law code is 32124, 0.17 dB below full scale.
        let level = mulaw_energy_dbfs(&[0x80, 0x00].repeat(80));
        let expected = 20.0 * (32_124.0f32 / 32_768.0).log10();
        assert!((level - expected).abs() < 0.001, "{level}");
    }

    #[test]
    fn sine_reads_minus_three_db_and_codecs_agree() {
        let pcm: Vec<i16> = (0..160)
            .map(|n| (16_000.0 * (2.0 * std::f64::consts::PI * n as f64 / 8.0).sin()) as i16)
            .collect();
        let expected = 20.0 * (16_000.0f32 / 32_768.0).log10() - 3.0103;
        let pcm_level = pcm_energy_dbfs(&pcm);
        assert!((pcm_level - expected).abs() < 0.05, "{pcm_level}");

        let mut encoded = Vec::new();
        mulaw::encode_into(&pcm, &mut encoded);
        let mut decoded = Vec::new();
        mulaw::decode_into(&encoded, &mut decoded);
        let mulaw_level = mulaw_energy_dbfs(&encoded);
        assert!((mulaw_level - pcm_energy_dbfs(&decoded)).abs() < 1e-4);
        assert!((mulaw_level - pcm_level).abs() < 0.2, "{mulaw_level}");
    }

    #[test]
    fn detector_starts_at_threshold_and_stops_after_hangover() {
        let mut vad = VoiceDetector::new(-45.0, 3);
        assert_eq!(vad.push(f32::NEG_INFINITY), None);
        assert_eq!(vad.push(-45.1), None);
        assert!(!vad.is_speaking());
        assert_eq!(vad.push(-45.0), Some(true));
        assert!(vad.is_speaking());
        assert_eq!(vad.push(-20.0), None);
        // Two quiet frames, then speech again: the gap is bridged.
        assert_eq!(vad.push(-60.0), None);
        assert_eq!(vad.push(-60.0), None);
        assert_eq!(vad.push(-30.0), None);
        assert!(vad.is_speaking());
        // Three quiet frames in a row end it, on the third.
        assert_eq!(vad.push(-60.0), None);
        assert_eq!(vad.push(f32::NAN), None);
        assert_eq!(vad.push(f32::NEG_INFINITY), Some(false));
        assert!(!vad.is_speaking());
        assert_eq!(vad.push(-60.0), None);
        assert_eq!(vad.push(-10.0), Some(true));
    }

    #[test]
    fn zero_hangover_stops_on_first_quiet_frame() {
        let mut vad = VoiceDetector::new(-45.0, 0);
        assert_eq!(vad.push(-10.0), Some(true));
        assert_eq!(vad.push(-10.0), None);
        assert_eq!(vad.push(-90.0), Some(false));
    }
}
