//! Test audio for the simulated caller: synthetic speech, silence, audio files
//! and a level meter, all as G.711 mu-law at 8 kHz (what Twilio streams).
//!
//! The mu-law codec here is deliberately separate from `crate::codec` so that a
//! bug in the engine's codec cannot be masked by the simulator sharing it.

use std::f32::consts::TAU;
use std::path::Path;

/// Telephone sample rate used by Twilio Media Streams.
pub const SAMPLE_RATE: u32 = 8000;
/// Mu-law bytes per millisecond at 8 kHz.
pub const BYTES_PER_MS: usize = 8;
/// The mu-law code for digital silence.
pub const MULAW_SILENCE: u8 = 0xFF;
/// Level reported for digital silence (a finite floor keeps reports serialisable).
pub const DBFS_FLOOR: f32 = -120.0;

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32635;

/// Why an audio file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AudioFileError {
    #[error("cannot read audio file: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed WAV file: {0}")]
    MalformedWav(&'static str),
    #[error("unsupported WAV sample rate {0} Hz: the caller needs 8000 Hz audio")]
    UnsupportedSampleRate(u32),
    #[error("unsupported WAV channel count {0}: the caller needs mono audio")]
    UnsupportedChannels(u16),
    #[error("unsupported WAV encoding (format tag {format}, {bits} bits): use PCM16 or mu-law")]
    UnsupportedEncoding { format: u16, bits: u16 },
    #[error("unsupported audio file extension {0:?}: use .wav, .ulaw or .raw")]
    UnsupportedExtension(String),
}

/// Encodes one linear PCM16 sample to mu-law (ITU-T G.711).
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign = if magnitude < 0 {
        magnitude = -magnitude;
        0x80
    } else {
        0x00
    };
    magnitude = magnitude.min(MULAW_CLIP) + MULAW_BIAS;
    // The biased magnitude lies in 0x84..=0x7FFF, so its top bit is bit 7..=14.
    let top_bit = 31 - magnitude.leading_zeros() as i32;
    let exponent = top_bit - 7;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    let code = sign | (exponent << 4) | mantissa;
    !(code as u8)
}

/// Decodes one mu-law byte to linear PCM16 (ITU-T G.711).
pub fn mulaw_to_linear(code: u8) -> i16 {
    let code = !code;
    let exponent = i32::from((code >> 4) & 0x07);
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    let value = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    // |value| <= 32124, always within i16.
    value as i16
}

/// Encodes PCM16 samples to mu-law.
pub fn encode_mulaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| linear_to_mulaw(s)).collect()
}

/// Decodes mu-law bytes to PCM16 samples.
pub fn decode_mulaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| mulaw_to_linear(b)).collect()
}

/// `ms` milliseconds of mu-law digital silence.
pub fn silence(ms: u32) -> Vec<u8> {
    vec![MULAW_SILENCE; ms as usize * BYTES_PER_MS]
}

/// RMS level of mu-law audio in dBFS (full scale = 32768); digital silence and
/// empty input report [`DBFS_FLOOR`].
pub fn mulaw_dbfs(bytes: &[u8]) -> f32 {
    if bytes.is_empty() {
        return DBFS_FLOOR;
    }
    let sum_sq: f64 = bytes
        .iter()
        .map(|&b| {
            let s = f64::from(mulaw_to_linear(b)) / 32768.0;
            s * s
        })
        .sum();
    let rms = (sum_sq / bytes.len() as f64).sqrt();
    if rms <= 0.0 {
        return DBFS_FLOOR;
    }
    ((20.0 * rms.log10()) as f32).max(DBFS_FLOOR)
}

/// Deterministic speech-like audio: a voiced source at 120–220 Hz with a
/// decaying harmonic series and a little breath noise, shaped into syllables
/// (~4–6 per second) with short pauses between words. While "speaking" the
/// level sits well above -35 dBFS, so any voice-activity detector fires, and
/// the same `seed` always yields the same bytes.
pub fn synth_speech(ms: u32, seed: u64) -> Vec<u8> {
    let total = ms as usize * BYTES_PER_MS;
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(total);
    let mut phase = 0.0f32;
    let mut syllables_in_word = 0u32;
    let word_length = |rng: &mut SplitMix64| 2 + (rng.next_u64() % 3) as u32;
    let mut word_target = word_length(&mut rng);

    while out.len() < total {
        let syllable_len = (rng.range_f32(140.0, 260.0) as usize) * BYTES_PER_MS;
        let start_f0 = rng.range_f32(120.0, 220.0);
        let end_f0 = (start_f0 + rng.range_f32(-30.0, 30.0)).clamp(110.0, 230.0);
        let peak = rng.range_f32(0.35, 0.6);
        for i in 0..syllable_len {
            if out.len() >= total {
                break;
            }
            let progress = i as f32 / syllable_len as f32;
            let f0 = start_f0 + (end_f0 - start_f0) * progress;
            phase = (phase + TAU * f0 / SAMPLE_RATE as f32) % TAU;
            // Raised sine with a floor: syllables blend like connected speech
            // instead of dropping to silence between them.
            let envelope = peak * (0.3 + 0.7 * (std::f32::consts::PI * progress).sin());
            let mut voiced = 0.0f32;
            for harmonic in 1..=8u32 {
                let h = harmonic as f32;
                voiced += (phase * h).sin() / h.powf(0.9);
            }
            let breath = rng.range_f32(-0.04, 0.04);
            let sample = (envelope * (voiced * 0.45 + breath)).clamp(-1.0, 1.0);
            out.push(linear_to_mulaw((sample * 32000.0) as i16));
        }
        syllables_in_word += 1;
        if syllables_in_word >= word_target {
            syllables_in_word = 0;
            word_target = word_length(&mut rng);
            let gap = (rng.range_f32(40.0, 90.0) as usize) * BYTES_PER_MS;
            let room = total.saturating_sub(out.len());
            out.extend(std::iter::repeat_n(MULAW_SILENCE, gap.min(room)));
        }
    }
    out
}

/// Loads caller audio: WAV (PCM16 or mu-law, mono, 8000 Hz) or headerless
/// mu-law (`.ulaw`, `.mulaw`, `.ul`, `.raw`). Returns mu-law bytes.
pub fn load_audio_file(path: &Path) -> Result<Vec<u8>, AudioFileError> {
    let bytes = std::fs::read(path)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "wav" | "wave" => wav_to_mulaw(&bytes),
        "ulaw" | "mulaw" | "ul" | "raw" | "pcmu" => Ok(bytes),
        _ if bytes.starts_with(b"RIFF") => wav_to_mulaw(&bytes),
        _ => Err(AudioFileError::UnsupportedExtension(extension)),
    }
}

/// The parts of a WAV header the simulator cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    /// Format tag (1 = PCM, 7 = mu-law), resolved through WAVE_FORMAT_EXTENSIBLE.
    pub format: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits_per_sample: u16,
    /// Byte range of the sample data inside the file.
    pub data: std::ops::Range<usize>,
}

impl WavInfo {
    /// Duration of the sample data in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        let frame_bytes = u64::from(self.channels) * u64::from(self.bits_per_sample.div_ceil(8));
        let per_second = frame_bytes * u64::from(self.sample_rate);
        if per_second == 0 {
            return 0;
        }
        (self.data.len() as u64) * 1000 / per_second
    }
}

const FORMAT_PCM: u16 = 1;
const FORMAT_MULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Parses a RIFF/WAVE header and locates the `data` chunk.
pub fn parse_wav(bytes: &[u8]) -> Result<WavInfo, AudioFileError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(AudioFileError::MalformedWav("missing RIFF/WAVE header"));
    }
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut offset = 12usize;
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let declared = read_u32(bytes, offset + 4)? as usize;
        let body_start = offset + 8;
        // Streaming writers leave the size at 0xFFFFFFFF; clamp to what exists.
        let body_end = body_start.saturating_add(declared).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(AudioFileError::MalformedWav("fmt chunk too short"));
                }
                let mut format = read_u16(body, 0)?;
                let channels = read_u16(body, 2)?;
                let sample_rate = read_u32(body, 4)?;
                let bits = read_u16(body, 14)?;
                if format == FORMAT_EXTENSIBLE {
                    // The sub-format GUID starts with the real format tag.
                    if body.len() < 26 {
                        return Err(AudioFileError::MalformedWav(
                            "WAVE_FORMAT_EXTENSIBLE without sub-format",
                        ));
                    }
                    format = read_u16(body, 24)?;
                }
                fmt = Some((format, channels, sample_rate, bits));
            }
            b"data" => {
                let (format, channels, sample_rate, bits_per_sample) =
                    fmt.ok_or(AudioFileError::MalformedWav("data chunk before fmt chunk"))?;
                return Ok(WavInfo {
                    format,
                    channels,
                    sample_rate,
                    bits_per_sample,
                    data: body_start..body_end,
                });
            }
            _ => {}
        }
        // Chunks are word-aligned: odd sizes carry one pad byte.
        offset = body_start
            .saturating_add(declared)
            .saturating_add(declared & 1);
    }
    Err(AudioFileError::MalformedWav("no data chunk"))
}

/// Converts a WAV file's bytes to mu-law 8 kHz mono.
pub fn wav_to_mulaw(bytes: &[u8]) -> Result<Vec<u8>, AudioFileError> {
    let info = parse_wav(bytes)?;
    if info.channels != 1 {
        return Err(AudioFileError::UnsupportedChannels(info.channels));
    }
    if info.sample_rate != SAMPLE_RATE {
        return Err(AudioFileError::UnsupportedSampleRate(info.sample_rate));
    }
    let data = &bytes[info.data.clone()];
    match (info.format, info.bits_per_sample) {
        (FORMAT_MULAW, 8) => Ok(data.to_vec()),
        (FORMAT_PCM, 16) => Ok(data
            .chunks_exact(2)
            .map(|pair| linear_to_mulaw(i16::from_le_bytes([pair[0], pair[1]])))
            .collect()),
        (format, bits) => Err(AudioFileError::UnsupportedEncoding { format, bits }),
    }
}

/// Wraps mu-law 8 kHz mono bytes in a WAV container (format 7), the shape of
/// a Twilio recording fetched as `.wav`.
pub fn mulaw_to_wav(mulaw: &[u8]) -> Vec<u8> {
    let data_len = mulaw.len() as u32;
    let mut out = Vec::with_capacity(mulaw.len() + 46);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(38 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_MULAW.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(mulaw);
    out
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, AudioFileError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(AudioFileError::MalformedWav("truncated header"))
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, AudioFileError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(AudioFileError::MalformedWav("truncated header"))
}

/// Small, stable PRNG: synthetic audio must not change when `rand` is upgraded.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range_f32(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm16_wav(samples: &[i16], rate: u32, channels: u16) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        out.extend_from_slice(&(2 * channels).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        // An odd-sized extra chunk checks the word-alignment padding.
        out.extend_from_slice(b"LIST");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&[1, 2, 3, 0]);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    #[test]
    fn mulaw_matches_g711_reference_points() {
        assert_eq!(linear_to_mulaw(0), 0xFF);
        assert_eq!(linear_to_mulaw(-1), 0x7F);
        assert_eq!(linear_to_mulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(mulaw_to_linear(0xEF), 132);
        assert_eq!(linear_to_mulaw(132), 0xEF);
    }

    #[test]
    fn mulaw_round_trip_is_stable_and_close() {
        for code in 0..=255u8 {
            let linear = mulaw_to_linear(code);
            let again = linear_to_mulaw(linear);
            // 0x7F (negative zero) legitimately re-encodes as 0xFF.
            assert_eq!(mulaw_to_linear(again), linear, "code {code:#x}");
        }
        for sample in (-32000i16..32000).step_by(97) {
            let back = mulaw_to_linear(linear_to_mulaw(sample));
            let error = (i32::from(back) - i32::from(sample)).abs();
            let allowed = (i32::from(sample).abs() / 16).max(8);
            assert!(error <= allowed, "{sample} -> {back}");
        }
    }

    #[test]
    fn silence_is_0xff_and_floor_level() {
        let s = silence(20);
        assert_eq!(s.len(), 160);
        assert!(s.iter().all(|&b| b == 0xFF));
        assert_eq!(mulaw_dbfs(&s), DBFS_FLOOR);
        assert_eq!(mulaw_dbfs(&[]), DBFS_FLOOR);
    }

    #[test]
    fn dbfs_of_full_scale_square_is_near_zero() {
        let square: Vec<u8> = (0..800)
            .map(|i| linear_to_mulaw(if i % 2 == 0 { 32767 } else { -32768 }))
            .collect();
        let level = mulaw_dbfs(&square);
        assert!((-0.3..=0.0).contains(&level), "{level}");
        let quiet: Vec<u8> = encode_mulaw(&[328; 800]);
        let level = mulaw_dbfs(&quiet);
        assert!((-41.0..=-39.0).contains(&level), "{level}");
    }

    #[test]
    fn synth_speech_is_loud_deterministic_and_sized() {
        let a = synth_speech(3000, 7);
        assert_eq!(a.len(), 24_000);
        assert_eq!(a, synth_speech(3000, 7));
        assert_ne!(a, synth_speech(3000, 8));
        assert!(mulaw_dbfs(&a) > -25.0, "{}", mulaw_dbfs(&a));
        // Speech varies: at least some 20 ms windows are much quieter (word gaps)
        // and most windows are clearly voiced.
        let windows: Vec<f32> = a.chunks(160).map(mulaw_dbfs).collect();
        let loud = windows.iter().filter(|&&l| l > -35.0).count();
        assert!(loud * 10 >= windows.len() * 7, "{loud}/{}", windows.len());
        assert!(windows.iter().any(|&l| l < -60.0));
    }

    #[test]
    fn synth_speech_pitch_is_in_voice_range() {
        let pcm = decode_mulaw(&synth_speech(2000, 3));
        // Autocorrelation peak over 120–220 Hz lags on a voiced window.
        let window = &pcm[400..1200];
        let best_lag = (30..=80usize)
            .max_by_key(|&lag| {
                window
                    .iter()
                    .zip(&window[lag..])
                    .map(|(&a, &b)| i64::from(a) * i64::from(b))
                    .sum::<i64>()
            })
            .unwrap_or(0);
        let f0 = 8000.0 / best_lag as f32;
        assert!((100.0..=240.0).contains(&f0), "f0 {f0}");
    }

    #[test]
    fn loads_pcm16_wav_and_rejects_other_rates() {
        let dir = tempfile::tempdir().unwrap();
        let samples: Vec<i16> = (0..800).map(|i| ((i % 50) * 400 - 10_000) as i16).collect();
        let path = dir.path().join("hello.wav");
        std::fs::write(&path, pcm16_wav(&samples, 8000, 1)).unwrap();
        let loaded = load_audio_file(&path).unwrap();
        assert_eq!(loaded, encode_mulaw(&samples));

        let path = dir.path().join("hd.wav");
        std::fs::write(&path, pcm16_wav(&samples, 16_000, 1)).unwrap();
        let err = load_audio_file(&path).unwrap_err();
        assert!(matches!(err, AudioFileError::UnsupportedSampleRate(16_000)));
        assert!(err.to_string().contains("16000 Hz"));

        let path = dir.path().join("stereo.wav");
        std::fs::write(&path, pcm16_wav(&samples, 8000, 2)).unwrap();
        assert!(matches!(
            load_audio_file(&path),
            Err(AudioFileError::UnsupportedChannels(2))
        ));
    }

    #[test]
    fn loads_mulaw_wav_and_raw_files() {
        let dir = tempfile::tempdir().unwrap();
        let audio = synth_speech(500, 1);
        let path = dir.path().join("voice.wav");
        let wav = mulaw_to_wav(&audio);
        std::fs::write(&path, &wav).unwrap();
        assert_eq!(load_audio_file(&path).unwrap(), audio);
        assert_eq!(parse_wav(&wav).unwrap().duration_ms(), 500);

        let path = dir.path().join("voice.ulaw");
        std::fs::write(&path, &audio).unwrap();
        assert_eq!(load_audio_file(&path).unwrap(), audio);

        let path = dir.path().join("voice.mp3");
        std::fs::write(&path, b"ID3").unwrap();
        assert!(matches!(
            load_audio_file(&path),
            Err(AudioFileError::UnsupportedExtension(e)) if e == "mp3"
        ));
        assert!(matches!(
            load_audio_file(&dir.path().join("missing.wav")),
            Err(AudioFileError::Io(_))
        ));
    }

    #[test]
    fn malformed_wavs_are_errors_not_panics() {
        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd").is_err());
        let mut truncated = mulaw_to_wav(&[1, 2, 3, 4]);
        truncated.truncate(30);
        assert!(parse_wav(&truncated).is_err());
        // A streaming header (size 0xFFFFFFFF) is clamped to the file.
        let mut streaming = mulaw_to_wav(&[1, 2, 3, 4]);
        let len = streaming.len();
        streaming[len - 8..len - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_to_mulaw(&streaming).unwrap(), vec![1, 2, 3, 4]);
    }
}
