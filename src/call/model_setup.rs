//! How a call reaches its model: the Realtime URL, the key, and the session
//! every call asks for — all read from the configuration once, at start-up.
//! Only the instructions differ from call to call (they name the caller and
//! the time).

use crate::codec::CodecMode;
use crate::config::{AudioFormatSetting, RealtimeConfig, TurnDetectionSetting};
use crate::realtime::session::{
    realtime_url, AudioFormat, SessionParams, ToolSpec, TurnDetection, UrlError,
};

/// No `Debug`: it holds the API key.
pub struct ModelSetup {
    pub url: url::Url,
    pub api_key: Option<String>,
    /// Passthrough for mu-law sessions, transcoding for PCM 24 kHz.
    pub codec: CodecMode,
    /// The session with empty instructions.
    session: SessionParams,
}

impl ModelSetup {
    pub fn new(r: &RealtimeConfig, tools: Vec<ToolSpec>) -> Result<Self, UrlError> {
        let (format, codec) = match r.audio_format {
            AudioFormatSetting::Pcmu => (AudioFormat::Pcmu, CodecMode::Passthrough),
            AudioFormatSetting::Pcm24k => (AudioFormat::Pcm24k, CodecMode::Pcm24k),
        };
        let session = SessionParams {
            model: r.model.clone(),
            instructions: String::new(),
            voice: r.voice.clone(),
            format,
            turn_detection: match r.turn_detection {
                TurnDetectionSetting::ServerVad => TurnDetection::ServerVad {
                    threshold: r.vad_threshold,
                    prefix_padding_ms: r.vad_prefix_padding_ms,
                    silence_duration_ms: r.vad_silence_duration_ms,
                    idle_timeout_ms: None,
                },
                TurnDetectionSetting::SemanticVad => TurnDetection::SemanticVad {
                    eagerness: r.semantic_eagerness.clone(),
                },
            },
            transcription_model: Some(r.transcription_model.clone()).filter(|m| !m.is_empty()),
            transcription_language: None,
            noise_reduction: Some(r.noise_reduction.clone()).filter(|n| n != "off"),
            tools,
            max_output_tokens: Some(r.max_output_tokens),
        };
        Ok(ModelSetup {
            url: realtime_url(&r.base_url, &r.model)?,
            api_key: r.api_key.as_ref().map(|k| k.expose().to_owned()),
            codec,
            session,
        })
    }

    /// The session for one call.
    pub fn session(&self, instructions: String) -> SessionParams {
        SessionParams {
            instructions,
            ..self.session.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_becomes_the_session() {
        let mut r = RealtimeConfig {
            noise_reduction: "off".into(),
            transcription_model: String::new(),
            ..RealtimeConfig::default()
        };
        let spec = ToolSpec {
            name: "end_call".into(),
            description: "d".into(),
            parameters: serde_json::json!({"type": "object"}),
        };
        let m = ModelSetup::new(&r, vec![spec.clone()]).unwrap();
        assert_eq!(m.codec, CodecMode::Passthrough);
        let s = m.session("be brief".into());
        assert_eq!(s.instructions, "be brief");
        assert_eq!(s.format, AudioFormat::Pcmu);
        assert_eq!(s.tools, vec![spec]);
        assert_eq!(s.noise_reduction, None);
        assert_eq!(s.transcription_model, None);
        assert!(m.url.as_str().contains("model=gpt-realtime"), "{}", m.url);

        r.audio_format = AudioFormatSetting::Pcm24k;
        r.base_url = "ftp://nowhere".into();
        assert!(ModelSetup::new(&r, Vec::new()).is_err());
        r.base_url = "http://127.0.0.1:9000/v1".into();
        let m = ModelSetup::new(&r, Vec::new()).unwrap();
        assert_eq!(m.codec, CodecMode::Pcm24k);
        assert_eq!(m.session(String::new()).format, AudioFormat::Pcm24k);
    }
}
