//! Frame identity carried inside the audio itself.
//!
//! Both peers live in one process, so a frame can carry its own send time on
//! the shared monotonic clock: no lookup table, no clock sync. The first
//! [`HEADER_BYTES`] mu-law bytes of every 20 ms frame hold the sending
//! connection, a sequence number and the send time; because 12 is a multiple
//! of 3 they are exactly the first [`HEADER_B64`] base64 characters, so a
//! frame is made by patching a pre-encoded template and read by decoding 16
//! characters. The engine relays `pcmu` payloads untouched (passthrough), so
//! the header arrives intact at the other peer.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// 20 ms of 8 kHz mu-law.
pub const FRAME_BYTES: usize = 160;
pub const FRAME_MS: u64 = 20;
pub const HEADER_BYTES: usize = 12;
pub const HEADER_B64: usize = HEADER_BYTES / 3 * 4;

/// Who sent a frame, which one, and when (µs on the run's clock, wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameId {
    pub conn: u32,
    pub seq: u32,
    pub sent_us: u32,
}

impl FrameId {
    pub fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[0..4].copy_from_slice(&self.conn.to_le_bytes());
        b[4..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..12].copy_from_slice(&self.sent_us.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; HEADER_BYTES]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        FrameId {
            conn: word(0),
            seq: word(4),
            sent_us: word(8),
        }
    }

    /// Reads the id from the start of a base64 payload; `None` if the payload
    /// is too short or not base64 (not one of ours).
    pub fn read(payload_b64: &str) -> Option<Self> {
        let head = payload_b64.as_bytes().get(..HEADER_B64)?;
        let mut out = [0u8; HEADER_BYTES];
        let n = BASE64.decode_slice(head, &mut out).ok()?;
        (n == HEADER_BYTES).then(|| FrameId::from_bytes(&out))
    }
}

/// A pre-encoded 20 ms payload whose first 16 base64 characters are replaced
/// per frame.
#[derive(Debug, Clone)]
pub struct PayloadTemplate {
    b64: String,
}

impl PayloadTemplate {
    /// `audio` is the payload's sound, any length from [`HEADER_BYTES`] up
    /// (its first bytes are overwritten by ids).
    pub fn new(audio: &[u8]) -> Self {
        let mut frame = audio.to_vec();
        if frame.len() < HEADER_BYTES {
            frame.resize(FRAME_BYTES, 0xFF);
        }
        PayloadTemplate {
            b64: BASE64.encode(frame),
        }
    }

    /// Appends the payload carrying `id` to `out`.
    pub fn push(&self, id: FrameId, out: &mut String) {
        let mut head = [0u8; HEADER_B64];
        // 12 bytes always encode to exactly 16 characters; the fallback
        // (never taken) keeps the template's zero header.
        let written = BASE64.encode_slice(id.to_bytes(), &mut head).unwrap_or(0);
        match std::str::from_utf8(&head[..written]) {
            Ok(h) if written == HEADER_B64 => out.push_str(h),
            _ => out.push_str(&self.b64[..HEADER_B64]),
        }
        out.push_str(&self.b64[HEADER_B64..]);
    }
}

/// The string value of the first `"key":"` after `from` in `json`, for the
/// engine's own fixed-shape frames (base64 and mark names never need
/// escaping). Not a JSON parser: only used where the shape is known.
pub fn str_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let mut pattern = String::with_capacity(key.len() + 4);
    pattern.push('"');
    pattern.push_str(key);
    pattern.push_str("\":\"");
    let start = json.find(&pattern)? + pattern.len();
    let len = json[start..].find('"')?;
    Some(&json[start..start + len])
}

/// Milliseconds of mu-law in a base64 payload (8 bytes per ms).
pub fn payload_ms(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take(2).filter(|&b| b == b'=').count();
    let bytes = (b64.len() / 4 * 3).saturating_sub(pad);
    (bytes / 8) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_the_payload() {
        let audio: Vec<u8> = (0..FRAME_BYTES as u32).map(|i| (i * 7) as u8).collect();
        let t = PayloadTemplate::new(&audio);
        let id = FrameId {
            conn: 0xDEAD_BEEF,
            seq: 123_456,
            sent_us: u32::MAX - 5,
        };
        let mut s = String::new();
        t.push(id, &mut s);
        assert_eq!(s.len(), 216);
        assert_eq!(FrameId::read(&s), Some(id));
        // The rest of the frame is the template's audio, untouched.
        let decoded = BASE64.decode(&s).unwrap();
        assert_eq!(decoded.len(), FRAME_BYTES);
        assert_eq!(&decoded[..HEADER_BYTES], &id.to_bytes());
        assert_eq!(&decoded[HEADER_BYTES..], &audio[HEADER_BYTES..]);
        assert_eq!(payload_ms(&s), 20);
    }

    #[test]
    fn longer_payloads_carry_ids_too() {
        let t = PayloadTemplate::new(&[0x55; 800]);
        let id = FrameId {
            conn: 1,
            seq: 2,
            sent_us: 3,
        };
        let mut s = String::new();
        t.push(id, &mut s);
        assert_eq!(FrameId::read(&s), Some(id));
        assert_eq!(payload_ms(&s), 100);
    }

    #[test]
    fn foreign_payloads_are_not_ids() {
        assert_eq!(FrameId::read("//8="), None);
        assert_eq!(FrameId::read("not base64 at all, no no no!"), None);
    }

    #[test]
    fn fields_of_fixed_shape_frames() {
        let m = r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"3:120"}}"#;
        assert_eq!(str_field(m, "event"), Some("mark"));
        assert_eq!(str_field(m, "name"), Some("3:120"));
        assert_eq!(str_field(m, "payload"), None);
    }
}
