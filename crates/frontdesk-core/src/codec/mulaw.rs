//! G.711 mu-law, bit-exact with the ITU-T G.191 software tools (`g711.c`,
//! `ulaw_compress` / `ulaw_expand`).
//!
//! G.191 treats a 16-bit sample as 14-bit left-justified audio and takes the
//! magnitude of a negative sample as its one's complement (`!x`, i.e.
//! `|x| - 1`), not its two's complement. That detail decides the code of
//! small negative samples (G.191 maps -1..=-4 to 0x7F, "negative zero"), and
//! is where the popular Sun/SpanDSP variants (which use `|x|`) differ from the
//! reference. Positive samples agree with those variants (bias 0x84, clip at
//! 32635).
//!
//! Encoding is a handful of integer operations (no table, no float): it is on
//! the hot path of every PCM-provider call and stays out of the data cache.
//! Decoding is a 256-entry table built at compile time.

/// Added to the magnitude so that segment boundaries fall on powers of two
/// (0x84 = 132 = 33 << 2; G.191 adds 33 to the 14-bit value).
const BIAS: i32 = 0x84;

/// Largest magnitude that still fits the top segment once biased:
/// 32635 + 132 = 32767.
const CLIP: i32 = 32_635;

/// Encodes one 16-bit linear sample to a mu-law byte.
#[inline]
pub fn encode_sample(s: i16) -> u8 {
    // One's complement for negatives (G.191), so `!s` is never out of range
    // the way `-i16::MIN` would be.
    let (magnitude, mask) = if s < 0 {
        (i32::from(!s), 0x7F)
    } else {
        (i32::from(s), 0xFF)
    };
    let biased = magnitude.min(CLIP) + BIAS;
    // Segment = number of significant bits above the lowest 8; biased is at
    // most 0x7FFF, so this is 0..=7.
    let segment = 32 - ((biased >> 8) as u32).leading_zeros();
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    let code = ((segment as i32) << 4) | mantissa;
    (code ^ mask) as u8
}

/// Decodes one mu-law byte to a 16-bit linear sample (the midpoint of the
/// code's quantisation interval, as G.191 `ulaw_expand`).
#[inline]
pub fn decode_sample(b: u8) -> i16 {
    DECODE_TABLE[usize::from(b)]
}

/// Appends the decoded samples of `src` to `dst`.
pub fn decode_into(src: &[u8], dst: &mut Vec<i16>) {
    dst.extend(src.iter().map(|&b| decode_sample(b)));
}

/// Appends the mu-law encoding of `src` to `dst`.
pub fn encode_into(src: &[i16], dst: &mut Vec<u8>) {
    dst.extend(src.iter().map(|&s| encode_sample(s)));
}

/// Decoded value of every code, indexed by the code. A `const` so other
/// compile-time tables (the meter's) can be derived from it.
pub(crate) const DECODED: [i16; 256] = build_decode_table();

/// The runtime copy: one shared table rather than a const inlined per use.
static DECODE_TABLE: [i16; 256] = DECODED;

const fn decode_formula(code: u8) -> i16 {
    let inverted = !code;
    let exponent = ((inverted >> 4) & 0x07) as i32;
    let mantissa = (inverted & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if inverted & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_formula(i as u8);
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent transcription of G.191 `ulaw_compress`, but locating the
    /// segment with the segment-end table search of the Sun `g711.c` instead
    /// of leading-zero counting, so the two encoders share no algorithm.
    fn reference_encode(x: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
        let x = i32::from(x);
        let mut absno = if x < 0 { (!x >> 2) + 33 } else { (x >> 2) + 33 };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut seg = 0;
        while seg < 8 && absno > SEG_UEND[seg] {
            seg += 1;
        }
        assert!(seg < 8, "absno is clipped into the table");
        let code = ((seg as i32) << 4) | ((absno >> (seg + 1)) & 0x0F);
        let mask = if x < 0 { 0x7F } else { 0xFF };
        (code ^ mask) as u8
    }

    /// Literal transcription of G.191 `ulaw_expand`.
    fn reference_decode(code: u8) -> i16 {
        let code = i32::from(code);
        let sign = if code < 0x80 { -1 } else { 1 };
        let inverted = !code;
        let exponent = (inverted >> 4) & 0x07;
        let segment = exponent + 1;
        let mantissa = inverted & 0x0F;
        let step = 4 << segment;
        (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
    }

    #[test]
    fn itu_spot_values() {
        assert_eq!(decode_sample(0x00), -32124);
        assert_eq!(decode_sample(0x80), 32124);
        assert_eq!(decode_sample(0xFF), 0);
        assert_eq!(decode_sample(0x7F), 0);
        assert_eq!(decode_sample(0xFE), 8);
        assert_eq!(decode_sample(0x7E), -8);
        assert_eq!(decode_sample(0xF0), 120);
        assert_eq!(decode_sample(0xEF), 132);
        assert_eq!(decode_sample(0x8F), 16764);
        assert_eq!(encode_sample(0), 0xFF);
        assert_eq!(encode_sample(3), 0xFF);
        assert_eq!(encode_sample(4), 0xFE);
        assert_eq!(encode_sample(-1), 0x7F);
        assert_eq!(encode_sample(-4), 0x7F);
        assert_eq!(encode_sample(-5), 0x7E);
        assert_eq!(encode_sample(100), 0xF2);
        assert_eq!(encode_sample(32635), 0x80);
        assert_eq!(encode_sample(i16::MAX), 0x80);
        assert_eq!(encode_sample(i16::MIN), 0x00);
    }

    #[test]
    fn decode_table_matches_g191_expand() {
        for code in 0..=255u8 {
            assert_eq!(
                decode_sample(code),
                reference_decode(code),
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn encode_matches_reference_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(encode_sample(x), reference_encode(x), "sample {x}");
        }
    }

    #[test]
    fn every_code_round_trips_except_negative_zero() {
        for code in 0..=255u8 {
            let again = encode_sample(decode_sample(code));
            if code == 0x7F {
                // 0x7F and 0xFF both decode to 0; 0 encodes to 0xFF, which
                // is therefore the canonical zero (and Twilio's silence).
                assert_eq!(again, 0xFF);
            } else {
                assert_eq!(again, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn decode_is_monotonic_in_level() {
        // Codes 0x00..=0x7F run from most negative to zero, 0xFF..=0x80 from
        // zero to most positive.
        let negatives: Vec<i16> = (0x00..=0x7Fu8).map(decode_sample).collect();
        assert!(negatives.windows(2).all(|w| w[0] < w[1]));
        let positives: Vec<i16> = (0x80..=0xFFu8).rev().map(decode_sample).collect();
        assert!(positives.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(negatives.last(), positives.first());
    }

    #[test]
    fn encode_is_monotonic_in_decoded_level() {
        let mut previous = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let level = decode_sample(encode_sample(x));
            assert!(level >= previous, "sample {x}");
            previous = level;
        }
    }

    #[test]
    fn bulk_helpers_append() {
        let mut pcm = vec![7i16];
        decode_into(&[0xFF, 0x80, 0x00], &mut pcm);
        assert_eq!(pcm, [7, 0, 32124, -32124]);
        let mut bytes = vec![0xAAu8];
        encode_into(&pcm[1..], &mut bytes);
        assert_eq!(bytes, [0xAA, 0xFF, 0x80, 0x00]);
    }
}
