//! The engine: everything a call needs that outlives a call — configuration,
//! tools, metrics, the registry of live calls and the record sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, Recipient};
use base64::Engine as _;

use crate::call::actor::CallActor;
use crate::call::registry::CallRegistry;
use crate::call::MachineConfig;
use crate::config::{AudioFormatSetting, Config, TurnDetectionSetting};
use crate::instructions::{session_instructions, CallerContext};
use crate::metrics::Metrics;
use crate::realtime::session::{realtime_url, AudioFormat, SessionParams, TurnDetection};
use crate::recorder::RecordCall;
use crate::session::SessionStore;
use crate::store::Store;
use crate::tools::Toolbox;
use crate::twilio::signature::Validator;

/// The "one moment, please" clip (G.711 mu-law, 8 kHz), made by
/// `scripts/make-hold-clip.sh`.
const HOLD_CLIP: &[u8] = include_bytes!("../assets/one-moment.ulaw");

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("realtime.base_url: {0}")]
    RealtimeUrl(String),
    #[error("tools: {0}")]
    Tools(String),
}

/// How Twilio requests are authenticated.
pub enum SignaturePolicy {
    Verify(Validator),
    /// Verification is on but there is no auth token: refuse everything.
    RejectAll,
    /// Switched off explicitly (`server.verify_signatures = false`).
    Off,
}

/// Who is calling, as the webhook or the stream's parameters tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    /// The contact matching `from`, looked up when the call comes in.
    pub known: Option<crate::store::KnownCaller>,
}

/// How long the incoming-call webhook waits for the contacts lookup: a slow
/// database must not hold up the answer, it only costs the greeting by name.
pub const RECOGNISE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(150);

pub struct Engine {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub toolbox: Toolbox,
    pub registry: CallRegistry,
    pub recorder: Recipient<RecordCall>,
    /// Which instance holds which call; cross-instance webhooks; idempotency.
    pub sessions: SessionStore,
    pub store: Store,
    pub signatures: SignaturePolicy,
    pub realtime_url: url::Url,
    pub machine: MachineConfig,
    /// Base64 of the hold clip, ready to send.
    pub hold_clip: String,
    draining: AtomicBool,
}

impl Engine {
    pub fn new(
        config: Config,
        recorder: Recipient<RecordCall>,
        store: Store,
        sessions: SessionStore,
    ) -> Result<Arc<Self>, EngineError> {
        let signatures = match (&config.twilio.auth_token, config.server.verify_signatures) {
            (Some(token), true) => SignaturePolicy::Verify(Validator::new(token.clone())),
            (None, true) => {
                tracing::error!(
                    "TWILIO_AUTH_TOKEN is not set: Twilio requests cannot be verified and will be \
                     refused (403). Set it, or set FRONTDESK__SERVER__VERIFY_SIGNATURES=false for \
                     local experiments"
                );
                SignaturePolicy::RejectAll
            }
            (_, false) => {
                tracing::warn!(
                    "Twilio signature verification is OFF (server.verify_signatures = false): \
                     anyone who finds this server can place calls through it"
                );
                SignaturePolicy::Off
            }
        };
        let realtime_url = realtime_url(&config.realtime.base_url, &config.realtime.model)
            .map_err(|e| EngineError::RealtimeUrl(e.to_string()))?;
        let toolbox = Toolbox::standard(&config).map_err(EngineError::Tools)?;
        Ok(Arc::new(Engine {
            machine: crate::call::machine_config(&config),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            toolbox,
            registry: CallRegistry::default(),
            recorder,
            sessions,
            store,
            signatures,
            realtime_url,
            hold_clip: base64::engine::general_purpose::STANDARD.encode(HOLD_CLIP),
            draining: AtomicBool::new(false),
        }))
    }

    /// The call's actor: the live one, or a new one (pre-warm on the
    /// webhook; or a stream whose webhook went to another instance).
    pub fn call(self: &Arc<Self>, info: CallInfo) -> Addr<CallActor> {
        if let Some(addr) = self.registry.get(&info.call_sid) {
            return addr;
        }
        let sid = info.call_sid.clone();
        let addr = CallActor::new(self.clone(), info).start();
        self.registry.insert(&sid, addr.clone());
        let sessions = self.sessions.clone();
        actix::spawn(async move { sessions.claim(&sid).await });
        addr
    }

    pub fn session_params(&self, info: &CallInfo) -> SessionParams {
        let r = &self.config.realtime;
        SessionParams {
            model: r.model.clone(),
            instructions: session_instructions(
                &self.config,
                &CallerContext {
                    from: info.from.clone(),
                    now: chrono::Utc::now(),
                    known: info.known.clone(),
                },
            ),
            voice: r.voice.clone(),
            format: match r.audio_format {
                AudioFormatSetting::Pcmu => AudioFormat::Pcmu,
                AudioFormatSetting::Pcm24k => AudioFormat::Pcm24k,
            },
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
            tools: self.toolbox.specs(),
            max_output_tokens: Some(r.max_output_tokens),
        }
    }

    /// Is the operator's department open right now (business timezone,
    /// department or business hours, holidays)? No operator: false.
    pub fn operator_open_now(&self) -> bool {
        let b = &self.config.business;
        let (Some(op), Ok(tz)) = (b.operator(), b.timezone()) else {
            return false;
        };
        let Some(schedule) = crate::tools::hours::Schedule::of_department(b, &op.name) else {
            return false;
        };
        let local = chrono::Utc::now().with_timezone(&tz).naive_local();
        schedule.open_span(local).is_some()
    }

    /// The contact calling from `from`, if the directory knows them and the
    /// database answers within [`RECOGNISE_TIMEOUT`].
    pub async fn recognise(&self, from: &str) -> Option<crate::store::KnownCaller> {
        let nanp = crate::tools::caller::business_is_nanp(&self.config);
        let phone = crate::tools::caller::caller_number(from, nanp)?;
        let lookup = self
            .store
            .find_contact(&self.config.business.business.phone, &phone);
        match tokio::time::timeout(RECOGNISE_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "contacts lookup failed; caller not recognised");
                None
            }
            Err(_) => {
                tracing::warn!("contacts lookup too slow; caller not recognised");
                None
            }
        }
    }

    /// Stop taking new calls (shutdown drain); calls in progress go on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `wss://…/twilio/stream` for the TwiML, from the public URL.
    pub fn stream_url(&self) -> String {
        let base = self.config.public_base();
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        };
        format!("{ws}/twilio/stream")
    }

    /// An absolute public URL for a path of ours.
    pub fn public(&self, path: &str) -> String {
        format!("{}{}", self.config.public_base(), path)
    }
}
