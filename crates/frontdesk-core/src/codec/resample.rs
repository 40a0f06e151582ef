//! Polyphase FIR resampling between 8 kHz (telephony) and 24 kHz (PCM16
//! realtime models), factor 3 both ways.
//!
//! Both directions share one linear-phase low-pass prototype running at
//! 24 kHz: a Kaiser-windowed sinc, cut off at 3.6 kHz so that telephone
//! speech (300–3400 Hz) passes while the spectral images an upsampler
//! creates around 8 kHz, and everything a decimator would fold back below
//! 4 kHz, are removed. Filter state persists across `process` calls, so a
//! stream cut into 20 ms frames gives exactly the samples of one long block:
//! no clicks at frame edges.
//!
//! Arithmetic is `f32` on a fixed-size history ring; `process` never
//! allocates except to grow the caller's output vector.

use std::sync::LazyLock;

/// Resampling factor between 8 kHz and 24 kHz.
const FACTOR: usize = 3;

/// Length of the prototype low-pass at 24 kHz. Odd, so the linear-phase
/// delay is a whole number of samples, and that delay ((73 - 1) / 2 = 36) is
/// a multiple of 3, so it is a whole number of 8 kHz samples too.
const TAPS: usize = 73;

/// Taps per polyphase branch of the upsampler (the prototype zero-padded to
/// a multiple of 3).
const PHASE_TAPS: usize = TAPS.div_ceil(FACTOR);

/// -6 dB point of the prototype: below the 4 kHz Nyquist of the 8 kHz side,
/// with enough room for the transition band to be mostly above 4 kHz.
const CUTOFF_HZ: f64 = 3_600.0;

/// Sample rate the prototype runs at.
const HIGH_RATE_HZ: f64 = 24_000.0;

/// Kaiser window shape: about 60 dB stopband attenuation, which puts images
/// and aliases below the mu-law quantisation noise of the 8 kHz leg.
const KAISER_BETA: f64 = 5.65;

/// Group delay of each filter, in 24 kHz samples.
pub const GROUP_DELAY_24K: usize = (TAPS - 1) / 2;

/// Group delay of each filter, in 8 kHz samples (1.5 ms). An 8k -> 24k -> 8k
/// round trip is delayed by twice this.
pub const GROUP_DELAY_8K: usize = GROUP_DELAY_24K / FACTOR;

struct Coefficients {
    /// `up[p][i]`: branch `p` of the upsampler, already scaled by the
    /// factor 3 that zero-stuffing loses, stored oldest-sample-first.
    up: [[f32; PHASE_TAPS]; FACTOR],
    /// Full prototype for the decimator, oldest-sample-first.
    down: [f32; TAPS],
}

static COEFFICIENTS: LazyLock<Coefficients> = LazyLock::new(design);

/// Zeroth-order modified Bessel function of the first kind, by its power
/// series (converges fast for the small arguments a Kaiser window uses).
fn bessel_i0(x: f64) -> f64 {
    let quarter_x2 = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..50 {
        term *= quarter_x2 / f64::from(k * k);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

fn prototype() -> [f64; TAPS] {
    let centre = GROUP_DELAY_24K as f64;
    let normalized_cutoff = 2.0 * CUTOFF_HZ / HIGH_RATE_HZ;
    let window_norm = bessel_i0(KAISER_BETA);
    let mut h = [0.0f64; TAPS];
    for (k, tap) in h.iter_mut().enumerate() {
        let t = k as f64 - centre;
        let sinc = if t == 0.0 {
            normalized_cutoff
        } else {
            (std::f64::consts::PI * normalized_cutoff * t).sin() / (std::f64::consts::PI * t)
        };
        let r = t / centre;
        let window = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / window_norm;
        *tap = sinc * window;
    }
    h
}

fn design() -> Coefficients {
    let h = prototype();
    let total: f64 = h.iter().sum();

    // Each branch is normalised on its own to a DC gain of exactly 1, so a
    // constant input upsamples to a constant (no 8 kHz ripple).
    let mut up = [[0.0f32; PHASE_TAPS]; FACTOR];
    for (phase, branch) in up.iter_mut().enumerate() {
        let taps = || h.iter().skip(phase).step_by(FACTOR);
        let branch_sum: f64 = taps().sum();
        // Branch tap j multiplies x[n - j]; stored reversed to line up with
        // the oldest-first history window.
        for (j, &tap) in taps().enumerate() {
            branch[PHASE_TAPS - 1 - j] = (tap / branch_sum) as f32;
        }
    }

    let mut down = [0.0f32; TAPS];
    for (k, &tap) in h.iter().enumerate() {
        down[TAPS - 1 - k] = (tap / total) as f32;
    }
    Coefficients { up, down }
}

/// The last `N` input samples, oldest first, as one contiguous slice.
///
/// Every sample is written twice, `N` apart, so the window never wraps and
/// the dot product runs over a plain slice.
#[derive(Clone)]
struct History<const N: usize> {
    buf: [[f32; N]; 2],
    pos: usize,
}

impl<const N: usize> History<N> {
    const fn new() -> Self {
        Self {
            buf: [[0.0; N]; 2],
            pos: 0,
        }
    }

    #[inline]
    fn push(&mut self, sample: i16) {
        let value = f32::from(sample);
        self.buf[0][self.pos] = value;
        self.buf[1][self.pos] = value;
        self.pos = if self.pos + 1 == N { 0 } else { self.pos + 1 };
    }

    #[inline]
    fn window(&self) -> &[f32] {
        &self.buf.as_flattened()[self.pos..self.pos + N]
    }
}

/// Dot product with four independent accumulators, which the compiler can
/// keep in one SIMD register. The summation order is fixed, so results do
/// not depend on how the input was split into calls.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let chunks_a = a.chunks_exact(4);
    let chunks_b = b.chunks_exact(4);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..4 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[inline]
fn saturate(value: f32) -> i16 {
    // `as` saturates (and maps NaN to 0); rounding keeps silence at 0 and
    // avoids a -0.5 LSB bias.
    value.round() as i16
}

/// 8 kHz -> 24 kHz. Three output samples per input sample.
#[derive(Clone)]
pub struct Upsampler {
    history: History<PHASE_TAPS>,
    coefficients: &'static Coefficients,
}

impl Upsampler {
    pub fn new() -> Self {
        Self {
            history: History::new(),
            coefficients: &COEFFICIENTS,
        }
    }

    /// Appends `3 * input.len()` samples to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() * FACTOR);
        for &sample in input {
            self.history.push(sample);
            let window = self.history.window();
            for branch in &self.coefficients.up {
                out.push(saturate(dot(window, branch)));
            }
        }
    }
}

impl Default for Upsampler {
    fn default() -> Self {
        Self::new()
    }
}

/// 24 kHz -> 8 kHz. One output sample per three input samples; the phase
/// is carried over, so input lengths need not be multiples of 3.
#[derive(Clone)]
pub struct Downsampler {
    history: History<TAPS>,
    /// Input samples still to come before the next output is due (0 means
    /// the next input sample produces one).
    skip: usize,
    coefficients: &'static Coefficients,
}

impl Downsampler {
    pub fn new() -> Self {
        Self {
            history: History::new(),
            skip: 0,
            coefficients: &COEFFICIENTS,
        }
    }

    /// Appends one sample to `out` for every third input sample (counted
    /// across calls).
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.reserve(input.len() / FACTOR + 1);
        for &sample in input {
            self.history.push(sample);
            if self.skip == 0 {
                out.push(saturate(dot(
                    self.history.window(),
                    &self.coefficients.down,
                )));
                self.skip = FACTOR - 1;
            } else {
                self.skip -= 1;
            }
        }
    }
}

impl Default for Downsampler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f64, rate_hz: f64, amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * freq_hz * n as f64 / rate_hz;
                (amplitude * phase.sin()).round() as i16
            })
            .collect()
    }

    /// Pseudo-random but deterministic test signal covering the full band.
    fn noise(len: usize) -> Vec<i16> {
        let mut state: u32 = 0x1234_5678;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 16) as i16
            })
            .collect()
    }

    fn rms(samples: &[i16]) -> f64 {
        let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / samples.len() as f64).sqrt()
    }

    /// Amplitude of the `freq_hz` component (Goertzel-style projection).
    fn tone_amplitude(samples: &[i16], freq_hz: f64, rate_hz: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &s) in samples.iter().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * freq_hz * n as f64 / rate_hz;
            re += f64::from(s) * phase.cos();
            im += f64::from(s) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / samples.len() as f64
    }

    fn upsample_in_frames(input: &[i16], frame: usize) -> Vec<i16> {
        let mut up = Upsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks(frame) {
            up.process(chunk, &mut out);
        }
        out
    }

    fn downsample_in_frames(input: &[i16], frame: usize) -> Vec<i16> {
        let mut down = Downsampler::new();
        let mut out = Vec::new();
        for chunk in input.chunks(frame) {
            down.process(chunk, &mut out);
        }
        out
    }

    #[test]
    fn upsampler_frame_split_matches_one_block() {
        let input = noise(160 * 25 + 37);
        let whole = upsample_in_frames(&input, input.len());
        assert_eq!(whole.len(), input.len() * 3);
        assert_eq!(upsample_in_frames(&input, 160), whole);
        assert_eq!(upsample_in_frames(&input, 7), whole);
        assert_eq!(upsample_in_frames(&input, 1), whole);
    }

    #[test]
    fn downsampler_frame_split_matches_one_block() {
        let input = noise(480 * 25 + 41);
        let whole = downsample_in_frames(&input, input.len());
        assert_eq!(whole.len(), input.len().div_ceil(3));
        assert_eq!(downsample_in_frames(&input, 480), whole);
        // Frame lengths that are not multiples of 3 exercise the carried
        // decimation phase.
        assert_eq!(downsample_in_frames(&input, 481), whole);
        assert_eq!(downsample_in_frames(&input, 5), whole);
        assert_eq!(downsample_in_frames(&input, 1), whole);
    }

    #[test]
    fn appends_to_output() {
        let mut out = vec![42i16];
        Upsampler::new().process(&[0; 160], &mut out);
        assert_eq!(out.len(), 481);
        assert_eq!(out[0], 42);
        let mut out = vec![42i16];
        Downsampler::new().process(&[0; 480], &mut out);
        assert_eq!(out.len(), 161);
        assert_eq!(out[0], 42);
    }

    #[test]
    fn dc_gain_is_unity() {
        let input = vec![10_000i16; 400];
        let up = upsample_in_frames(&input, 160);
        // Past the warm-up, every branch gives exactly the constant back.
        let settled = &up[3 * PHASE_TAPS..];
        assert!(
            settled.iter().all(|&s| (s - 10_000).abs() <= 1),
            "{settled:?}"
        );

        let input = vec![-10_000i16; 1200];
        let down = downsample_in_frames(&input, 480);
        let settled = &down[TAPS / 3 + 1..];
        assert!(
            settled.iter().all(|&s| (s + 10_000).abs() <= 1),
            "{settled:?}"
        );
    }

    #[test]
    fn full_scale_saturates_instead_of_wrapping() {
        // A full-scale square wave overshoots (Gibbs); the result must clip
        // to the rails, never wrap to the opposite sign.
        let input: Vec<i16> = (0..800)
            .map(|n| if (n / 8) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let up = upsample_in_frames(&input, 160);
        assert!(up.contains(&i16::MAX) && up.contains(&i16::MIN));
        let mut previous = up[0];
        for &s in &up[1..] {
            // Wrapping would show as a jump of most of the range in one
            // sample at 24 kHz; the filtered square wave never does that.
            assert!((i32::from(s) - i32::from(previous)).abs() < 50_000);
            previous = s;
        }
    }

    #[test]
    fn one_khz_round_trip_keeps_30_db_snr() {
        let input = sine(1_000.0, 8_000.0, 12_000.0, 8_000);
        let up = upsample_in_frames(&input, 160);
        let back = downsample_in_frames(&up, 480);
        assert_eq!(back.len(), input.len());

        let delay = 2 * GROUP_DELAY_8K;
        let skip = 100;
        let error: Vec<i16> = back[skip + delay..]
            .iter()
            .zip(&input[skip..])
            .map(|(&b, &a)| b - a)
            .collect();
        let snr_db = 20.0 * (rms(&input[skip..]) / rms(&error)).log10();
        assert!(snr_db > 30.0, "SNR {snr_db:.1} dB");
    }

    #[test]
    fn upsampler_suppresses_images() {
        let input = sine(1_000.0, 8_000.0, 12_000.0, 1_600);
        let up = upsample_in_frames(&input, 160);
        let settled = &up[300..];
        let wanted = tone_amplitude(settled, 1_000.0, 24_000.0);
        assert!((wanted - 12_000.0).abs() < 120.0, "passband {wanted}");
        // Zero-stuffing mirrors 1 kHz to 7, 9, 15 and 17 kHz.
        for image in [7_000.0, 9_000.0, 15_000.0, 17_000.0] {
            let amplitude = tone_amplitude(settled, image, 24_000.0);
            let rejection_db = 20.0 * (wanted / amplitude).log10();
            assert!(rejection_db > 50.0, "{image} Hz: {rejection_db:.1} dB");
        }
    }

    #[test]
    fn downsampler_suppresses_tones_above_4khz() {
        let reference = sine(1_000.0, 24_000.0, 12_000.0, 4_800);
        let passed = downsample_in_frames(&reference, 480);
        let passed_rms = rms(&passed[100..]);
        assert!((passed_rms / (12_000.0 / 2f64.sqrt()) - 1.0).abs() < 0.01);

        // 5 kHz would fold to 3 kHz, 6.5 kHz to 1.5 kHz, 4.6 kHz to 3.4 kHz.
        for (freq, min_db) in [(4_600.0, 45.0), (5_000.0, 55.0), (6_500.0, 55.0)] {
            let tone = sine(freq, 24_000.0, 12_000.0, 4_800);
            let folded = downsample_in_frames(&tone, 480);
            let rejection_db = 20.0 * (passed_rms / rms(&folded[100..])).log10();
            assert!(rejection_db > min_db, "{freq} Hz: {rejection_db:.1} dB");
        }
    }

    #[test]
    fn telephone_band_is_flat() {
        for freq in [300.0, 1_000.0, 2_000.0, 3_000.0] {
            let tone = sine(freq, 24_000.0, 12_000.0, 4_800);
            let out = downsample_in_frames(&tone, 480);
            let gain_db = 20.0 * (rms(&out[100..]) / rms(&tone[300..])).log10();
            assert!(gain_db.abs() < 0.5, "{freq} Hz: {gain_db:.2} dB");
        }
    }

    #[test]
    fn delay_matches_documented_group_delay() {
        let mut impulse = vec![0i16; 160];
        impulse[10] = 16_000;
        let up = upsample_in_frames(&impulse, 160);
        let peak = (0..up.len()).max_by_key(|&i| up[i]).unwrap_or(0);
        assert_eq!(peak, 3 * 10 + GROUP_DELAY_24K);

        let mut impulse = vec![0i16; 480];
        impulse[30] = 16_000;
        let down = downsample_in_frames(&impulse, 480);
        let peak = (0..down.len()).max_by_key(|&i| down[i]).unwrap_or(0);
        assert_eq!(peak, 10 + GROUP_DELAY_8K);
    }
}
