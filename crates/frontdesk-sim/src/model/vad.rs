//! Server-VAD emulation on the appended input audio.
//!
//! Time is the input-audio clock (milliseconds of audio appended this
//! session), exactly like the offsets the real server reports, so the result
//! does not depend on how fast the client sends.

use super::audio::{dbfs, decode, Fmt};

/// Analysis frame.
pub(crate) const FRAME_MS: u64 = 20;
/// A frame louder than this is speech. The real server's `threshold` is not
/// emulated: telephone speech sits far above this level, line noise far below.
pub(crate) const SPEECH_DBFS: f64 = -40.0;
/// Speech must last this long before `speech_started`, so a click is not a turn.
const MIN_SPEECH_MS: u64 = 2 * FRAME_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VadConfig {
    pub prefix_padding_ms: u64,
    pub silence_duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VadEvent {
    /// `audio_start_ms` already includes the prefix padding.
    Started { audio_start_ms: u64 },
    /// `audio_end_ms` includes the trailing silence, as the real server reports it.
    Stopped { audio_end_ms: u64 },
}

#[derive(Debug, Default)]
pub(crate) struct Vad {
    /// Audio analysed so far (complete frames).
    pos_ms: u64,
    /// Bytes of an incomplete frame, kept for the next append.
    carry: Vec<u8>,
    /// Start of the current run of loud frames.
    run_start_ms: Option<u64>,
    in_speech: bool,
    /// End of the last loud frame while in speech.
    last_voice_ms: u64,
}

impl Vad {
    /// Milliseconds of input audio analysed so far.
    pub(crate) fn pos_ms(&self) -> u64 {
        self.pos_ms
    }

    pub(crate) fn in_speech(&self) -> bool {
        self.in_speech
    }

    /// Forget a turn in progress (`input_audio_buffer.clear`, VAD turned off).
    pub(crate) fn reset_turn(&mut self) {
        self.in_speech = false;
        self.run_start_ms = None;
    }

    /// Analyse appended audio; `cfg` of `None` means turn detection is off
    /// (the clock still advances).
    pub(crate) fn feed(&mut self, fmt: Fmt, cfg: Option<VadConfig>, bytes: &[u8]) -> Vec<VadEvent> {
        let frame_bytes = fmt.bytes_for_ms(FRAME_MS);
        let mut events = Vec::new();
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut frames = data.chunks_exact(frame_bytes);
        for frame in &mut frames {
            let loud = dbfs(&decode(fmt, frame)) > SPEECH_DBFS;
            let start = self.pos_ms;
            self.pos_ms += FRAME_MS;
            let Some(cfg) = cfg else { continue };
            if loud {
                let run = *self.run_start_ms.get_or_insert(start);
                self.last_voice_ms = self.pos_ms;
                if !self.in_speech && self.pos_ms - run >= MIN_SPEECH_MS {
                    self.in_speech = true;
                    events.push(VadEvent::Started {
                        audio_start_ms: run.saturating_sub(cfg.prefix_padding_ms),
                    });
                }
            } else {
                self.run_start_ms = None;
                if self.in_speech && self.pos_ms - self.last_voice_ms >= cfg.silence_duration_ms {
                    self.in_speech = false;
                    events.push(VadEvent::Stopped {
                        audio_end_ms: self.pos_ms,
                    });
                }
            }
        }
        self.carry = frames.remainder().to_vec();
        events
    }
}

#[cfg(test)]
mod tests {
    use super::super::audio::{encode, Voice};
    use super::*;

    const CFG: VadConfig = VadConfig {
        prefix_padding_ms: 300,
        silence_duration_ms: 500,
    };

    fn silence(fmt: Fmt, ms: u64) -> Vec<u8> {
        encode(
            fmt,
            &vec![0i16; fmt.bytes_for_ms(ms) / fmt.bytes_per_sample()],
        )
    }

    #[test]
    fn detects_a_turn_with_padding_and_trailing_silence() {
        for fmt in [Fmt::Pcmu, Fmt::Pcm24] {
            let mut vad = Vad::default();
            let mut voice = Voice::default();
            assert!(vad.feed(fmt, Some(CFG), &silence(fmt, 1000)).is_empty());
            let ev = vad.feed(fmt, Some(CFG), &voice.chunk(fmt, 800));
            assert_eq!(
                ev,
                vec![VadEvent::Started {
                    audio_start_ms: 700
                }]
            );
            assert!(vad.in_speech());
            assert!(vad.feed(fmt, Some(CFG), &silence(fmt, 480)).is_empty());
            let ev = vad.feed(fmt, Some(CFG), &silence(fmt, 40));
            assert_eq!(ev, vec![VadEvent::Stopped { audio_end_ms: 2300 }]);
            assert_eq!(vad.pos_ms(), 2320);
        }
    }

    #[test]
    fn tolerates_arbitrary_chunking() {
        let fmt = Fmt::Pcmu;
        let mut audio = silence(fmt, 200);
        audio.extend(Voice::default().chunk(fmt, 400));
        audio.extend(silence(fmt, 600));
        let mut vad = Vad::default();
        let mut events = Vec::new();
        for piece in audio.chunks(37) {
            events.extend(vad.feed(fmt, Some(CFG), piece));
        }
        assert_eq!(
            events,
            vec![
                VadEvent::Started { audio_start_ms: 0 },
                VadEvent::Stopped { audio_end_ms: 1100 }
            ]
        );
    }

    #[test]
    fn click_is_not_speech_and_off_means_off() {
        let fmt = Fmt::Pcmu;
        let mut vad = Vad::default();
        assert!(vad
            .feed(fmt, Some(CFG), &Voice::default().chunk(fmt, 20))
            .is_empty());
        assert!(vad.feed(fmt, Some(CFG), &silence(fmt, 600)).is_empty());
        assert!(vad
            .feed(fmt, None, &Voice::default().chunk(fmt, 600))
            .is_empty());
        assert_eq!(vad.pos_ms(), 1220);
    }
}
