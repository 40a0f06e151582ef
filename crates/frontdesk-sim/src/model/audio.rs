//! Audio for the model simulator: G.711 µ-law, PCM16, frame levels and a
//! speech-like voice. Deliberately independent of `crate::codec` so that an
//! engine codec bug cannot be masked by the simulator sharing it.

use std::f64::consts::TAU;

/// The two session formats the simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fmt {
    /// `audio/pcmu`: µ-law, 8 kHz, one byte per sample.
    Pcmu,
    /// `audio/pcm` (rate 24000): PCM16 little-endian, 24 kHz.
    Pcm24,
}

impl Fmt {
    pub(crate) fn sample_rate(self) -> u32 {
        match self {
            Fmt::Pcmu => 8_000,
            Fmt::Pcm24 => 24_000,
        }
    }

    pub(crate) fn bytes_per_sample(self) -> usize {
        match self {
            Fmt::Pcmu => 1,
            Fmt::Pcm24 => 2,
        }
    }

    /// Bytes in `ms` milliseconds of audio.
    pub(crate) fn bytes_for_ms(self, ms: u64) -> usize {
        (ms as usize) * (self.sample_rate() as usize / 1000) * self.bytes_per_sample()
    }

    /// The GA format object.
    pub(crate) fn to_json(self) -> serde_json::Value {
        match self {
            Fmt::Pcmu => serde_json::json!({"type": "audio/pcmu"}),
            Fmt::Pcm24 => serde_json::json!({"type": "audio/pcm", "rate": 24000}),
        }
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// G.711 µ-law encoder.
pub(crate) fn mulaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign: u8 = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.unsigned_abs().min(CLIP as u32) as i32 + BIAS;
    // Segment = position of the highest set bit above bit 7 (0..=7).
    let mut exponent = 7u8;
    let mut mask = 0x4000;
    while exponent > 0 && magnitude & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0f) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// G.711 µ-law decoder.
pub(crate) fn mulaw_decode(code: u8) -> i16 {
    let c = !code;
    let exponent = (c >> 4) & 0x07;
    let mantissa = i32::from(c & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    let v = if c & 0x80 != 0 { -magnitude } else { magnitude };
    // |v| <= 32124 by construction.
    v as i16
}

/// Decode raw session audio into linear samples (a trailing odd PCM byte is ignored).
pub(crate) fn decode(fmt: Fmt, bytes: &[u8]) -> Vec<i16> {
    match fmt {
        Fmt::Pcmu => bytes.iter().map(|&b| mulaw_decode(b)).collect(),
        Fmt::Pcm24 => bytes
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect(),
    }
}

/// Encode linear samples into session audio.
pub(crate) fn encode(fmt: Fmt, samples: &[i16]) -> Vec<u8> {
    match fmt {
        Fmt::Pcmu => samples.iter().map(|&s| mulaw_encode(s)).collect(),
        Fmt::Pcm24 => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
    }
}

/// RMS level in dBFS; silence reports -120.
pub(crate) fn dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return -120.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let x = f64::from(s) / 32_768.0;
            x * x
        })
        .sum();
    let rms = (sum / samples.len() as f64).sqrt();
    if rms <= 0.0 {
        -120.0
    } else {
        (20.0 * rms.log10()).max(-120.0)
    }
}

/// A continuous speech-like voice: a gliding 110–170 Hz fundamental with a
/// decaying harmonic series, shaped into ~4 syllables per second. The
/// envelope never drops below a third of its peak, so every chunk is clearly
/// non-silent (about -20 dBFS), as a listener of a real model would hear.
#[derive(Debug, Clone, Default)]
pub(crate) struct Voice {
    /// Samples generated so far, so consecutive chunks join without clicks.
    t: u64,
    phase: f64,
}

impl Voice {
    pub(crate) fn chunk(&mut self, fmt: Fmt, ms: u64) -> Vec<u8> {
        let rate = f64::from(fmt.sample_rate());
        let n = fmt.bytes_for_ms(ms) / fmt.bytes_per_sample();
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let secs = self.t as f64 / rate;
            let f0 = 140.0 + 30.0 * (TAU * 0.7 * secs).sin();
            self.phase = (self.phase + TAU * f0 / rate) % TAU;
            let mut v = 0.0;
            for h in 1..=5u32 {
                let h = f64::from(h);
                v += (self.phase * h).sin() / (h * h);
            }
            let syllable = 0.5 + 0.5 * (TAU * 4.0 * secs).sin().abs();
            let envelope = 0.33 + 0.67 * syllable * syllable;
            samples.push((v * envelope * 9_000.0) as i16);
            self.t += 1;
        }
        encode(fmt, &samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_known_codes() {
        assert_eq!(mulaw_encode(0), 0xff);
        assert_eq!(mulaw_decode(0xff), 0);
        assert_eq!(mulaw_decode(0x7f), 0);
        assert_eq!(mulaw_decode(0x00), -32_124);
        assert_eq!(mulaw_decode(0x80), 32_124);
        assert_eq!(mulaw_encode(32_767), 0x80);
        assert_eq!(mulaw_encode(-32_768), 0x00);
    }

    #[test]
    fn mulaw_round_trip_is_close() {
        for s in (-32_000i32..32_000).step_by(97) {
            let s = s as i16;
            let back = mulaw_decode(mulaw_encode(s));
            let err = (i32::from(back) - i32::from(s)).abs();
            // Quantisation step grows with magnitude: at most 1/16 of the value + bias.
            assert!(err <= i32::from(s).abs() / 16 + 16, "{s} -> {back}");
        }
        for code in 0..=255u8 {
            let s = mulaw_decode(code);
            // 0x7f and 0xff both mean zero.
            if s != 0 {
                assert_eq!(mulaw_encode(s), code);
            }
        }
    }

    #[test]
    fn pcm_le_round_trip() {
        let s = [0i16, 1, -1, 12_345, i16::MIN, i16::MAX];
        let b = encode(Fmt::Pcm24, &s);
        assert_eq!(b[2..4], [1, 0]);
        assert_eq!(decode(Fmt::Pcm24, &b), s);
        assert_eq!(decode(Fmt::Pcm24, &[1, 0, 7]).len(), 1);
    }

    #[test]
    fn voice_is_loud_enough_and_sized() {
        for fmt in [Fmt::Pcmu, Fmt::Pcm24] {
            let mut v = Voice::default();
            for _ in 0..20 {
                let c = v.chunk(fmt, 20);
                assert_eq!(c.len(), fmt.bytes_for_ms(20));
                let level = dbfs(&decode(fmt, &c));
                assert!(level > -30.0 && level < -6.0, "{fmt:?}: {level}");
            }
        }
        assert_eq!(Fmt::Pcmu.bytes_for_ms(20), 160);
        assert_eq!(Fmt::Pcm24.bytes_for_ms(20), 960);
    }

    #[test]
    fn silence_level() {
        assert_eq!(dbfs(&[]), -120.0);
        assert_eq!(dbfs(&[0; 160]), -120.0);
        assert!(dbfs(&[100; 160]) < -40.0);
    }
}
