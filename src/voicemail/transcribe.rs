//! Speech to text through an OpenAI-compatible `POST {base}/audio/transcriptions`
//! (multipart: `file`, `model`, `response_format=json`; answer `{"text": …}`).

use std::time::Duration;

use serde::Deserialize;

use crate::config::Config;

/// A voicemail is at most a few minutes; transcribing it takes seconds, so a
/// minute means the service is stuck.
pub const TRANSCRIPTION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The service answered with an error (non-2xx).
    #[error("transcription service answered HTTP {status}: {message}")]
    Api { status: u16, message: String },
    #[error("transcription request timed out")]
    Timeout,
    #[error("transcription service unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected transcription response: {0}")]
    Decode(String),
    #[error("transcription base URL {0:?} is not an http(s) URL")]
    BadBaseUrl(String),
}

impl From<reqwest::Error> for TranscribeError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(err)
        }
    }
}

impl TranscribeError {
    /// Worth another try: the service may be back in a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Decode(_) | Self::BadBaseUrl(_) => false,
        }
    }
}

#[derive(Deserialize)]
struct TranscriptionBody {
    text: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    code: Option<serde_json::Value>,
}

/// A client for one transcription endpoint and model.
#[derive(Clone)]
pub struct Transcriber {
    endpoint: String,
    model: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The base URL to use: `knowledge.transcription_base_url`, else the
/// model's (`OPENAI_BASE_URL`). A `ws(s)://` base becomes `http(s)://`: the
/// Realtime base may be written as a WebSocket URL, transcription is HTTP.
pub fn transcription_base_url(config: &Config) -> String {
    let base = match config.knowledge.transcription_base_url.trim() {
        "" => config.realtime.base_url.trim(),
        own => own,
    };
    let base = if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_owned()
    };
    base.trim_end_matches('/').to_owned()
}

impl Transcriber {
    pub fn new(
        base_url: &str,
        model: impl Into<String>,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, TranscribeError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TranscribeError::BadBaseUrl(base.to_owned()));
        }
        // reqwest has no bundled rustls provider; a no-op when one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(TranscribeError::Transport)?;
        Ok(Self {
            endpoint: format!("{base}/audio/transcriptions"),
            model: model.into(),
            api_key: api_key.filter(|k| !k.is_empty()),
            http,
        })
    }

    /// From the engine's configuration (model, base URL, `OPENAI_API_KEY`).
    pub fn from_config(config: &Config) -> Result<Self, TranscribeError> {
        Self::new(
            &transcription_base_url(config),
            config.knowledge.transcription_model.clone(),
            config
                .realtime
                .api_key
                .as_ref()
                .map(|k| k.expose().to_owned()),
            TRANSCRIPTION_TIMEOUT,
        )
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Transcribes one WAV file; the text as the service returned it (trimmed).
    pub async fn transcribe(&self, wav: bytes::Bytes) -> Result<String, TranscribeError> {
        let length = wav.len() as u64;
        let file = reqwest::multipart::Part::stream_with_length(wav, length)
            .file_name("voicemail.wav")
            .mime_str("audio/wav")
            .map_err(|e| TranscribeError::Decode(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "json");
        let mut request = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::ACCEPT, "application/json")
            .multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        serde_json::from_slice::<TranscriptionBody>(&body)
            .map(|b| b.text.trim().to_owned())
            .map_err(|e| TranscribeError::Decode(format!("{e}")))
    }
}

fn api_error(status: reqwest::StatusCode, body: &[u8]) -> TranscribeError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            let code = match error.code {
                Some(serde_json::Value::String(c)) => format!(" ({c})"),
                _ => String::new(),
            };
            format!("{}{code}", error.message.unwrap_or_default())
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            match text.trim() {
                "" => status.canonical_reason().unwrap_or("error").to_owned(),
                t => t.chars().take(200).collect(),
            }
        }
    };
    TranscribeError::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_sim::audio::{mulaw_to_wav, synth_speech};
    use frontdesk_sim::transcription::{TranscriptionScript, TranscriptionSim};

    #[test]
    fn base_url_prefers_its_own_key_and_speaks_http() {
        let mut c = Config::default();
        c.realtime.base_url = "wss://models.example.com/v1/".into();
        assert_eq!(transcription_base_url(&c), "https://models.example.com/v1");
        c.realtime.base_url = "ws://127.0.0.1:9/v1".into();
        assert_eq!(transcription_base_url(&c), "http://127.0.0.1:9/v1");
        c.knowledge.transcription_base_url = "http://stt.local:8000/v1/".into();
        assert_eq!(transcription_base_url(&c), "http://stt.local:8000/v1");
        assert_eq!(
            Transcriber::from_config(&c).unwrap().endpoint(),
            "http://stt.local:8000/v1/audio/transcriptions"
        );
        c.knowledge.transcription_base_url = "ftp://x".into();
        assert!(matches!(
            Transcriber::from_config(&c),
            Err(TranscribeError::BadBaseUrl(_))
        ));
    }

    #[test]
    fn only_service_trouble_is_retried() {
        let api = |status| TranscribeError::Api {
            status,
            message: String::new(),
        };
        assert!(api(503).is_transient());
        assert!(api(429).is_transient());
        assert!(!api(401).is_transient());
        assert!(!api(400).is_transient());
        assert!(TranscribeError::Timeout.is_transient());
        assert!(!TranscribeError::Decode("x".into()).is_transient());
    }

    #[test]
    fn error_documents_are_read() {
        let err = api_error(
            reqwest::StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(
            err.to_string(),
            "transcription service answered HTTP 401: Incorrect API key provided (invalid_api_key)"
        );
        let err = api_error(reqwest::StatusCode::BAD_GATEWAY, b"");
        assert_eq!(
            err.to_string(),
            "transcription service answered HTTP 502: Bad Gateway"
        );
    }

    #[actix_rt::test]
    async fn transcribes_against_the_simulator_with_model_and_key() {
        let sim = TranscriptionSim::start(TranscriptionScript {
            api_key: Some("sk-test".into()),
            model: Some("whisper-1".into()),
            text: "  Hello, please call me back.  ".into(),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        let wav = mulaw_to_wav(&synth_speech(500, 3));
        let t = Transcriber::new(
            &sim.base_url(),
            "whisper-1",
            Some("sk-test".into()),
            Duration::from_secs(5),
        )
        .unwrap();
        let text = t.transcribe(wav.clone().into()).await.unwrap();
        assert_eq!(text, "Hello, please call me back.");
        let reqs = sim.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].file, wav);
        assert_eq!(reqs[0].model.as_deref(), Some("whisper-1"));
        assert_eq!(reqs[0].response_format.as_deref(), Some("json"));
        assert_eq!(reqs[0].file_name.as_deref(), Some("voicemail.wav"));
        assert_eq!(reqs[0].status, 200);

        let wrong_key = Transcriber::new(
            &sim.base_url(),
            "whisper-1",
            Some("sk-wrong".into()),
            Duration::from_secs(5),
        )
        .unwrap();
        let err = wrong_key.transcribe(wav.clone().into()).await.unwrap_err();
        assert!(
            matches!(err, TranscribeError::Api { status: 401, .. }),
            "{err}"
        );
        let wrong_model = Transcriber::new(
            &sim.base_url(),
            "tts-1",
            Some("sk-test".into()),
            Duration::from_secs(5),
        )
        .unwrap();
        let err = wrong_model.transcribe(wav.into()).await.unwrap_err();
        assert!(
            matches!(err, TranscribeError::Api { status: 400, .. }),
            "{err}"
        );
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn a_slow_service_times_out() {
        let sim = TranscriptionSim::start(TranscriptionScript {
            delay: Duration::from_secs(3),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        let t = Transcriber::new(&sim.base_url(), "m", None, Duration::from_millis(300)).unwrap();
        let started = std::time::Instant::now();
        let err = t
            .transcribe(mulaw_to_wav(&synth_speech(200, 1)).into())
            .await
            .unwrap_err();
        assert!(matches!(err, TranscribeError::Timeout), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        sim.stop().await;
    }
}
