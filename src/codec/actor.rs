//! `CodecActor`: one per call, between the Twilio leg (mu-law 8 kHz) and the
//! model leg. It always meters the caller for speech start/stop; it
//! transcodes only in [`CodecMode::Pcm24k`].
//!
//! All intermediate buffers live on the actor and are reused, so a frame
//! costs no allocation beyond the base64 `String` it sends on.

use actix::{Actor, Context, Handler, Message, Recipient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::meter::{mulaw_energy_dbfs, VoiceDetector};
use super::mulaw;
use super::resample::{Downsampler, Upsampler};
use crate::realtime::audio_sink::ModelAudioSink;

/// Caller speech threshold. Line noise on PSTN calls sits around -60 to
/// -50 dBFS and quiet speech around -35 dBFS; -45 separates the two with
/// margin on both sides.
pub const VOICE_THRESHOLD_DBFS: f32 = -45.0;

/// Quiet frames (20 ms each) before speech counts as stopped: 500 ms bridges
/// the pauses between words and breaths without delaying turn-taking
/// noticeably.
pub const VOICE_HANGOVER_FRAMES: u32 = 25;

/// What audio format the model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecMode {
    /// The model speaks `audio/pcmu`: audio passes through untouched and the
    /// actor only meters the caller.
    Passthrough,
    /// The model speaks `audio/pcm` (PCM16LE, 24 kHz): transcode both ways.
    Pcm24k,
}

/// A Twilio `media` payload: base64 mu-law, 8 kHz.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CallerFrame {
    pub payload: String,
}

/// A model audio delta: base64 PCM16LE, 24 kHz. Sent only in
/// [`CodecMode::Pcm24k`]; if it arrives in passthrough mode it is still
/// converted, since the message itself says what the audio is.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ModelAudio {
    pub payload: String,
    /// Travels with the audio so the call knows which response it belongs to.
    pub tag: AudioTag,
}

/// Which model response a chunk of audio belongs to, and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    pub response_id: String,
    pub item_id: String,
    pub received: std::time::Instant,
}

/// What the codec tells the call.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum CodecEvent {
    /// Base64 PCM16LE 24 kHz for the model ([`CodecMode::Pcm24k`] only).
    ToModel(String),
    /// Base64 mu-law 8 kHz for the caller.
    ToCaller { payload: String, tag: AudioTag },
    /// Caller speech started (`true`) or stopped (`false`).
    Voice(bool),
    /// Audio that could not be decoded, with the reason.
    BadAudio(String),
}

pub struct CodecActor {
    call_sid: String,
    mode: CodecMode,
    sink: Recipient<CodecEvent>,
    detector: VoiceDetector,
    upsampler: Upsampler,
    downsampler: Downsampler,
    /// Decoded base64 of the message being handled.
    bytes: Vec<u8>,
    /// Linear samples at the input rate.
    pcm_in: Vec<i16>,
    /// Linear samples at the output rate.
    pcm_out: Vec<i16>,
    /// Encoded output before base64.
    encoded: Vec<u8>,
    /// Odd byte at the end of a model chunk: the first half of a sample
    /// whose second half arrives in the next chunk.
    pending_byte: Option<u8>,
    bad_frames: u64,
    /// Where transcoded caller audio goes while the call forwards it.
    to_model: Option<ModelAudioSink>,
}

/// Write transcoded caller audio straight to this model connection (or,
/// with `None`, hand it to the call as [`CodecEvent::ToModel`]).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RouteToModel(pub Option<ModelAudioSink>);

impl CodecActor {
    pub fn new(call_sid: String, mode: CodecMode, sink: Recipient<CodecEvent>) -> Self {
        Self {
            call_sid,
            mode,
            sink,
            detector: VoiceDetector::new(VOICE_THRESHOLD_DBFS, VOICE_HANGOVER_FRAMES),
            upsampler: Upsampler::new(),
            downsampler: Downsampler::new(),
            bytes: Vec::new(),
            pcm_in: Vec::new(),
            pcm_out: Vec::new(),
            encoded: Vec::new(),
            pending_byte: None,
            bad_frames: 0,
            to_model: None,
        }
    }

    fn report_bad_audio(&mut self, source: &'static str, error: base64::DecodeError) {
        self.bytes.clear();
        self.bad_frames += 1;
        // A broken stream repeats 50 times a second; log the 1st, 2nd, 4th,
        // 8th... so the log shows it without being flooded by it. Every
        // frame is still reported to the call.
        if self.bad_frames.is_power_of_two() {
            tracing::warn!(
                call_sid = %self.call_sid,
                source,
                error = %error,
                bad_frames = self.bad_frames,
                "undecodable audio payload"
            );
        }
        self.sink.do_send(CodecEvent::BadAudio(format!(
            "{source}: invalid base64: {error}"
        )));
    }

    fn handle_caller_frame(&mut self, payload: &str) {
        self.bytes.clear();
        if let Err(error) = STANDARD.decode_vec(payload, &mut self.bytes) {
            self.report_bad_audio("caller", error);
            return;
        }

        if let Some(speaking) = self.detector.push(mulaw_energy_dbfs(&self.bytes)) {
            self.sink.do_send(CodecEvent::Voice(speaking));
        }

        if self.mode == CodecMode::Pcm24k && !self.bytes.is_empty() {
            self.pcm_in.clear();
            mulaw::decode_into(&self.bytes, &mut self.pcm_in);
            self.pcm_out.clear();
            self.upsampler.process(&self.pcm_in, &mut self.pcm_out);
            self.encoded.clear();
            self.encoded
                .extend(self.pcm_out.iter().flat_map(|s| s.to_le_bytes()));
            let payload = STANDARD.encode(&self.encoded);
            // Routed: straight into the model's write queue (one hop from
            // the stream, via this actor); otherwise the call decides.
            match &self.to_model {
                Some(model) => model.append(&payload, std::time::Instant::now()),
                None => self.sink.do_send(CodecEvent::ToModel(payload)),
            }
        }
    }

    fn handle_model_audio(&mut self, payload: &str, tag: AudioTag) {
        self.bytes.clear();
        // The pending byte is copied, not taken, so a bad chunk leaves it
        // in place for the next good one.
        self.bytes.extend(self.pending_byte);
        if let Err(error) = STANDARD.decode_vec(payload, &mut self.bytes) {
            self.report_bad_audio("model", error);
            return;
        }

        self.pending_byte = if self.bytes.len() % 2 == 1 {
            self.bytes.pop()
        } else {
            None
        };

        self.pcm_in.clear();
        self.pcm_in.extend(
            self.bytes
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
        );
        self.pcm_out.clear();
        self.downsampler.process(&self.pcm_in, &mut self.pcm_out);
        if self.pcm_out.is_empty() {
            return;
        }
        self.encoded.clear();
        mulaw::encode_into(&self.pcm_out, &mut self.encoded);
        self.sink.do_send(CodecEvent::ToCaller {
            payload: STANDARD.encode(&self.encoded),
            tag,
        });
    }
}

impl Actor for CodecActor {
    type Context = Context<Self>;
}

impl Handler<RouteToModel> for CodecActor {
    type Result = ();

    fn handle(&mut self, msg: RouteToModel, _ctx: &mut Context<Self>) {
        self.to_model = msg.0;
    }
}

impl Handler<CallerFrame> for CodecActor {
    type Result = ();

    fn handle(&mut self, msg: CallerFrame, _ctx: &mut Context<Self>) {
        self.handle_caller_frame(&msg.payload);
    }
}

impl Handler<ModelAudio> for CodecActor {
    type Result = ();

    fn handle(&mut self, msg: ModelAudio, _ctx: &mut Context<Self>) {
        self.handle_model_audio(&msg.payload, msg.tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Addr;

    /// Collects everything the codec sends.
    #[derive(Default)]
    struct Collector {
        events: Vec<CodecEvent>,
    }

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<CodecEvent> for Collector {
        type Result = ();

        fn handle(&mut self, msg: CodecEvent, _ctx: &mut Context<Self>) {
            self.events.push(msg);
        }
    }

    /// Hands over the events so far. Queued behind any events the codec has
    /// already sent, so awaiting it sees them all.
    #[derive(Message)]
    #[rtype(result = "Vec<CodecEvent>")]
    struct Drain;

    impl Handler<Drain> for Collector {
        type Result = Vec<CodecEvent>;

        fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> Vec<CodecEvent> {
            std::mem::take(&mut self.events)
        }
    }

    struct Harness {
        codec: Addr<CodecActor>,
        collector: Addr<Collector>,
    }

    impl Harness {
        fn start(mode: CodecMode) -> Self {
            let collector = Collector::default().start();
            let codec =
                CodecActor::new("CA-test".to_owned(), mode, collector.clone().recipient()).start();
            Self { codec, collector }
        }

        async fn caller(&self, mulaw: &[u8]) -> Vec<CodecEvent> {
            self.caller_raw(STANDARD.encode(mulaw)).await
        }

        async fn caller_raw(&self, payload: String) -> Vec<CodecEvent> {
            self.codec
                .send(CallerFrame { payload })
                .await
                .expect("codec alive");
            self.collector.send(Drain).await.expect("collector alive")
        }

        async fn model(&self, pcm_bytes: &[u8]) -> Vec<CodecEvent> {
            self.model_raw(STANDARD.encode(pcm_bytes)).await
        }

        async fn model_raw(&self, payload: String) -> Vec<CodecEvent> {
            self.codec
                .send(ModelAudio {
                    payload,
                    tag: AudioTag {
                        response_id: "r1".into(),
                        item_id: "i1".into(),
                        received: std::time::Instant::now(),
                    },
                })
                .await
                .expect("codec alive");
            self.collector.send(Drain).await.expect("collector alive")
        }
    }

    const SILENCE: [u8; 160] = [0xFF; 160];

    /// 20 ms of a 1 kHz tone at about -12 dBFS, mu-law encoded.
    fn loud_frame() -> Vec<u8> {
        let pcm: Vec<i16> = (0..160).map(|n| (curve(n) * 8_000.0) as i16).collect();
        let mut out = Vec::new();
        mulaw::encode_into(&pcm, &mut out);
        out
    }

    fn curve(n: usize) -> f64 {
        (2.0 * std::f64::consts::PI * n as f64 / 8.0).sin()
    }

    fn pcm24k_tone_bytes(samples: usize) -> Vec<u8> {
        (0..samples)
            .map(|n| (8_000.0 * (2.0 * std::f64::consts::PI * n as f64 / 24.0).sin()) as i16)
            .flat_map(i16::to_le_bytes)
            .collect()
    }

    fn decoded(payload: &str) -> Vec<u8> {
        STANDARD.decode(payload).expect("valid base64 from codec")
    }

    fn to_caller_bytes(events: &[CodecEvent]) -> Vec<u8> {
        events
            .iter()
            .flat_map(|e| match e {
                CodecEvent::ToCaller { payload, tag } => {
                    assert_eq!(tag.response_id, "r1");
                    decoded(payload)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[actix_rt::test]
    async fn voice_transitions_only_in_passthrough() {
        let h = Harness::start(CodecMode::Passthrough);
        for _ in 0..3 {
            assert_eq!(h.caller(&SILENCE).await, []);
        }
        let loud = loud_frame();
        assert_eq!(h.caller(&loud).await, [CodecEvent::Voice(true)]);
        for _ in 0..10 {
            assert_eq!(h.caller(&loud).await, []);
        }
        for _ in 0..VOICE_HANGOVER_FRAMES - 1 {
            assert_eq!(h.caller(&SILENCE).await, []);
        }
        assert_eq!(h.caller(&SILENCE).await, [CodecEvent::Voice(false)]);
        assert_eq!(h.caller(&SILENCE).await, []);
        assert_eq!(h.caller(&loud).await, [CodecEvent::Voice(true)]);
    }

    #[actix_rt::test]
    async fn pcm_mode_upsamples_caller_audio() {
        let h = Harness::start(CodecMode::Pcm24k);
        let events = h.caller(&SILENCE).await;
        match events.as_slice() {
            [CodecEvent::ToModel(payload)] => {
                let bytes = decoded(payload);
                assert_eq!(bytes.len(), 960);
                assert!(bytes.iter().all(|&b| b == 0), "silence stays silent");
            }
            other => panic!("unexpected {other:?}"),
        }

        let events = h.caller(&loud_frame()).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], CodecEvent::Voice(true));
        match &events[1] {
            CodecEvent::ToModel(payload) => {
                let bytes = decoded(payload);
                assert_eq!(bytes.len(), 960);
                let samples: Vec<i16> = bytes
                    .chunks_exact(2)
                    .map(|p| i16::from_le_bytes([p[0], p[1]]))
                    .collect();
                let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
                assert!((7_000..=9_500).contains(&peak), "peak {peak}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[actix_rt::test]
    async fn model_audio_is_downsampled_to_mulaw() {
        let h = Harness::start(CodecMode::Pcm24k);
        let events = h.model(&pcm24k_tone_bytes(480)).await;
        let mulaw_bytes = to_caller_bytes(&events);
        assert_eq!(mulaw_bytes.len(), 160);
        // Past the filter warm-up the 1 kHz tone comes through at level.
        let mut pcm = Vec::new();
        mulaw::decode_into(&mulaw_bytes[40..], &mut pcm);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((7_000..=9_500).contains(&peak), "peak {peak}");
    }

    #[actix_rt::test]
    async fn odd_byte_is_carried_to_next_chunk() {
        let audio = pcm24k_tone_bytes(960);
        let whole = Harness::start(CodecMode::Pcm24k);
        let expected = to_caller_bytes(&whole.model(&audio).await);
        assert_eq!(expected.len(), 320);

        let split = Harness::start(CodecMode::Pcm24k);
        let mut got = Vec::new();
        // 481 + 1 + 1438 bytes: a sample straddles the first cut, and the middle
        // chunk holds only the completing half of one.
        for chunk in [&audio[..481], &audio[481..482], &audio[482..]] {
            got.extend(to_caller_bytes(&split.model(chunk).await));
        }
        assert_eq!(got, expected);
    }

    #[actix_rt::test]
    async fn bad_base64_is_reported_and_stream_continues() {
        let h = Harness::start(CodecMode::Pcm24k);
        let events = h.caller_raw("not base64!!".to_owned()).await;
        assert!(
            matches!(events.as_slice(), [CodecEvent::BadAudio(reason)] if reason.contains("caller")),
            "{events:?}"
        );

        // A bad model chunk between the halves of a sample must not lose the
        // pending byte.
        let audio = pcm24k_tone_bytes(480);
        let mut got = to_caller_bytes(&h.model(&audio[..481]).await);
        let events = h.model_raw("%%%".to_owned()).await;
        assert!(
            matches!(events.as_slice(), [CodecEvent::BadAudio(reason)] if reason.contains("model")),
            "{events:?}"
        );
        got.extend(to_caller_bytes(&h.model(&audio[481..]).await));
        let reference = Harness::start(CodecMode::Pcm24k);
        assert_eq!(got, to_caller_bytes(&reference.model(&audio).await));

        let events = h.caller(&SILENCE).await;
        assert!(
            matches!(events.as_slice(), [CodecEvent::ToModel(_)]),
            "{events:?}"
        );
    }

    #[actix_rt::test]
    async fn empty_payloads_send_no_audio() {
        let h = Harness::start(CodecMode::Pcm24k);
        assert_eq!(h.caller_raw(String::new()).await, []);
        assert_eq!(h.model_raw(String::new()).await, []);
        // A single byte is half a sample: nothing to send yet.
        assert_eq!(h.model(&[0x12]).await, []);
    }
}
