//! Layered configuration: `config/default.toml` → `config/business.toml` →
//! environment (`FRONTDESK__SECTION__KEY`, plus the names the ecosystem
//! already uses: `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `TWILIO_ACCOUNT_SID`,
//! `TWILIO_AUTH_TOKEN`, `PUBLIC_URL`, `PORT`).
//!
//! Unknown keys are rejected (a typo must not silently do nothing) and secrets
//! are accepted only from the environment, so they never land in a file that
//! gets committed.

pub mod business;
pub mod calendar;
pub mod integrations;
pub mod privacy;
mod secret;
pub mod summary;

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use business::{Business, BusinessConfig, Department, Holiday, WeeklyHours};
pub use privacy::{PrivacyConfig, RedactionLevel, RetentionConfig, RetentionDays};
pub use secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} could not be read: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("secret `{key}` must come from the environment, not from {path}")]
    SecretInFile { key: String, path: PathBuf },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        // figment's message names the key and the source (file or env var).
        let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        ConfigError::Invalid(all.join("; "))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub notifications: NotificationsConfig,
    pub bookings: BookingsConfig,
    pub knowledge: KnowledgeConfig,
    pub twilio: TwilioConfig,
    pub realtime: RealtimeConfig,
    pub call: CallConfig,
    pub supervision: SupervisionConfig,
    pub business: BusinessConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            notifications: NotificationsConfig::default(),
            bookings: BookingsConfig::default(),
            knowledge: KnowledgeConfig::default(),
            twilio: TwilioConfig::default(),
            realtime: RealtimeConfig::default(),
            call: CallConfig::default(),
            supervision: SupervisionConfig::default(),
            business: BusinessConfig::sample(),
        }
    }
}

/// The on-disk shape: engine sections and business sections side by side.
/// (serde cannot combine `flatten` with `deny_unknown_fields`, hence this
/// separate type.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    storage: StorageConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    notifications: NotificationsConfig,
    #[serde(default)]
    bookings: BookingsConfig,
    #[serde(default)]
    knowledge: KnowledgeConfig,
    #[serde(default)]
    services: Vec<business::Service>,
    #[serde(default)]
    contacts: Vec<business::Contact>,
    #[serde(default)]
    twilio: TwilioConfig,
    #[serde(default)]
    realtime: RealtimeConfig,
    #[serde(default)]
    call: CallConfig,
    #[serde(default)]
    supervision: SupervisionConfig,
    business: Business,
    #[serde(default)]
    hours: WeeklyHours,
    #[serde(default)]
    holidays: Vec<Holiday>,
    #[serde(default)]
    departments: Vec<Department>,
    #[serde(default)]
    privacy: PrivacyConfig,
    #[serde(default)]
    calendar: calendar::CalendarConfig,
    #[serde(default)]
    http_tools: Vec<integrations::HttpToolConfig>,
    #[serde(default)]
    webhooks: Vec<integrations::WebhookEndpoint>,
}

impl From<RawConfig> for Config {
    fn from(r: RawConfig) -> Self {
        Config {
            server: r.server,
            storage: r.storage,
            limits: r.limits,
            notifications: r.notifications,
            bookings: r.bookings,
            knowledge: r.knowledge,
            twilio: r.twilio,
            realtime: r.realtime,
            call: r.call,
            supervision: r.supervision,
            business: BusinessConfig {
                business: r.business,
                hours: r.hours,
                holidays: r.holidays,
                departments: r.departments,
                services: r.services,
                contacts: r.contacts,
                privacy: r.privacy,
                calendar: r.calendar,
                http_tools: r.http_tools,
                webhooks: r.webhooks,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub verify_signatures: bool,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// A request head must arrive within this.
    pub header_timeout_ms: u64,
    /// A whole request body must arrive within this.
    pub body_timeout_ms: u64,
    /// Connections one address may hold open before any of them has carried
    /// a successful Twilio request; 0 = no cap.
    pub max_unproven_connections_per_peer: usize,
    /// `host:port` of a listener for `/readyz` and `/metrics` only (they
    /// then leave the public one); empty: served publicly.
    pub internal_listen: String,
    /// A Media Streams socket without a valid `start` by then is closed.
    pub stream_start_deadline_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "0.0.0.0".into(),
            port: 8080,
            public_url: "http://localhost:8080".into(),
            verify_signatures: true,
            workers: 0,
            header_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            max_unproven_connections_per_peer: 32,
            internal_listen: String::new(),
            stream_start_deadline_ms: 5000,
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://path` (embedded) or `postgres://…` (`DATABASE_URL`).
    pub database_url: String,
    /// Redis for the live session registry (`REDIS_URL`); empty: in memory.
    pub redis_url: String,
    /// Prefix of every Redis key and channel, so deployments can share a Redis.
    pub redis_namespace: String,
    /// Where the recorder spills rows while the database is away.
    pub spill_path: String,
    /// Fallback retention of transcripts, recordings and voicemails when
    /// `[privacy.retention]` does not name them; 0 keeps them.
    pub retention_days: u32,
}

/// The URLs may carry passwords: printed masked.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field(
                "database_url",
                &crate::logmask::mask_url_password(&self.database_url),
            )
            .field(
                "redis_url",
                &crate::logmask::mask_url_password(&self.redis_url),
            )
            .field("redis_namespace", &self.redis_namespace)
            .field("spill_path", &self.spill_path)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database_url: "sqlite://data/frontdesk.db".into(),
            redis_url: String::new(),
            redis_namespace: "frontdesk".into(),
            spill_path: "data/recorder-spill.jsonl".into(),
            retention_days: 90,
        }
    }
}

/// Where notifications go and how they travel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Who gets messages and voicemails by email.
    pub email_to: Vec<String>,
    pub email_from: String,
    /// `smtp://host:587` (STARTTLS), `smtps://host:465` (TLS) or
    /// `smtp://host:25?tls=none` (plain, local relays only); empty: no email.
    pub smtp_url: String,
    pub smtp_username: String,
    /// Secret: environment only (`FRONTDESK__NOTIFICATIONS__SMTP_PASSWORD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<Secret>,
    /// Slack-compatible incoming webhook; secret, environment only
    /// (`FRONTDESK__NOTIFICATIONS__SLACK_WEBHOOK_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url: Option<Secret>,
    /// Staff numbers texted about urgent messages.
    pub sms_to: Vec<String>,
    /// Attempts before a notification is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles with each further one.
    pub retry_initial_ms: u64,
    /// The longest wait between two attempts.
    pub retry_max_ms: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            email_to: Vec::new(),
            email_from: "Frontdesk <frontdesk@localhost>".into(),
            smtp_url: String::new(),
            smtp_username: String::new(),
            smtp_password: None,
            slack_webhook_url: None,
            sms_to: Vec::new(),
            max_attempts: 8,
            retry_initial_ms: 5_000,
            retry_max_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingsConfig {
    /// Text the caller a confirmation of a booking (through Twilio).
    pub sms_confirmation: bool,
    /// Appointments start on multiples of this many minutes.
    pub slot_minutes: u32,
    /// How far ahead bookings are taken.
    pub horizon_days: u32,
    /// Country calling codes (`"+1"`, `"+44"`) a confirmation may be texted
    /// to when it is not the caller's own number; empty: only the caller's.
    pub sms_countries: Vec<String>,
}

impl Default for BookingsConfig {
    fn default() -> Self {
        BookingsConfig {
            sms_confirmation: true,
            slot_minutes: 15,
            horizon_days: 60,
            sms_countries: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Markdown files the FAQ tool answers from.
    pub dir: String,
    /// Model of the OpenAI-compatible `/audio/transcriptions` endpoint used for voicemails.
    pub transcription_model: String,
    /// Base URL of that endpoint (`…/v1`); empty: the model's `realtime.base_url`
    /// (`OPENAI_BASE_URL`).
    pub transcription_base_url: String,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            dir: "config/kb".into(),
            transcription_model: "gpt-4o-transcribe".into(),
            transcription_base_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Calls one number may place per hour before being turned away; 0: no limit.
    pub calls_per_caller_per_hour: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            calls_per_caller_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub rest_base_url: String,
    /// Secret: environment only (`TWILIO_AUTH_TOKEN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<Secret>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: String::new(),
            rest_base_url: "https://api.twilio.com".into(),
            auth_token: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormatSetting {
    Pcmu,
    Pcm24k,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionSetting {
    ServerVad,
    SemanticVad,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeConfig {
    pub base_url: String,
    pub model: String,
    pub voice: String,
    pub audio_format: AudioFormatSetting,
    pub turn_detection: TurnDetectionSetting,
    pub vad_threshold: f32,
    pub vad_prefix_padding_ms: u32,
    pub vad_silence_duration_ms: u32,
    pub semantic_eagerness: String,
    pub transcription_model: String,
    pub noise_reduction: String,
    pub max_output_tokens: u32,
    pub session_ready_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub session_cap_secs: u64,
    /// SIP connector: where a call the assistant cannot serve is referred
    /// (a number whose Twilio webhook runs the menu); empty: the operator.
    pub sip_fallback_number: String,
    /// Secret: environment only (`OPENAI_API_KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Secret: environment only (`OPENAI_WEBHOOK_SECRET`, `whsec_…`):
    /// verifies `POST /openai/webhook`. Unset: the SIP connector is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-realtime".into(),
            voice: "marin".into(),
            audio_format: AudioFormatSetting::Pcmu,
            turn_detection: TurnDetectionSetting::ServerVad,
            vad_threshold: 0.5,
            vad_prefix_padding_ms: 300,
            vad_silence_duration_ms: 500,
            semantic_eagerness: "auto".into(),
            transcription_model: "gpt-4o-transcribe".into(),
            noise_reduction: "near_field".into(),
            max_output_tokens: 1024,
            session_ready_timeout_ms: 5000,
            response_timeout_ms: 8000,
            session_cap_secs: 3300,
            sip_fallback_number: String::new(),
            api_key: None,
            webhook_secret: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallConfig {
    pub max_call_secs: u64,
    pub silence_timeout_secs: u64,
    pub stream_start_timeout_ms: u64,
    pub model_ready_deadline_ms: u64,
    pub pacing_lead_ms: u64,
    pub barge_in_margin_ms: u64,
    pub hold_message_after_ms: u64,
    pub tool_timeout_ms: u64,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            max_call_secs: 1800,
            silence_timeout_secs: 20,
            stream_start_timeout_ms: 15000,
            model_ready_deadline_ms: 4000,
            pacing_lead_ms: 200,
            barge_in_margin_ms: 0,
            hold_message_after_ms: 1200,
            tool_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionConfig {
    pub restart_budget: u32,
    pub restart_window_secs: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            restart_budget: 2,
            restart_window_secs: 30,
            backoff_initial_ms: 100,
            backoff_max_ms: 2000,
        }
    }
}

/// Environment variables the ecosystem already uses, mapped onto our keys.
const ECOSYSTEM_ENV: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "realtime.api_key"),
    ("OPENAI_BASE_URL", "realtime.base_url"),
    ("OPENAI_WEBHOOK_SECRET", "realtime.webhook_secret"),
    ("TWILIO_ACCOUNT_SID", "twilio.account_sid"),
    ("TWILIO_AUTH_TOKEN", "twilio.auth_token"),
    ("PUBLIC_URL", "server.public_url"),
    ("PORT", "server.port"),
    ("DATABASE_URL", "storage.database_url"),
    ("REDIS_URL", "storage.redis_url"),
];

/// Keys that may only come from the environment.
const SECRETS: &[(&str, &str)] = &[
    ("twilio", "auth_token"),
    ("realtime", "api_key"),
    ("realtime", "webhook_secret"),
    ("notifications", "smtp_password"),
    ("notifications", "slack_webhook_url"),
];

/// Where the configuration files live.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub defaults: PathBuf,
    pub business: PathBuf,
}

impl ConfigSources {
    pub fn in_dir(dir: &Path) -> Self {
        ConfigSources {
            defaults: dir.join("default.toml"),
            business: dir.join("business.toml"),
        }
    }
}

impl Config {
    /// Loads files and the process environment.
    pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(sources, &env)
    }

    /// A configuration from TOML text alone: no files, no environment (the
    /// config fuzz target; tools that check a snippet).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::new()
            .merge(Toml::string(text))
            .extract::<RawConfig>()?
            .into();
        config.validate()?;
        Ok(config)
    }

    /// Loads files and the given environment (tests pass their own).
    pub fn load_with_env(
        sources: &ConfigSources,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        for path in [&sources.defaults, &sources.business] {
            if !path.exists() {
                return Err(ConfigError::File {
                    path: path.clone(),
                    reason: "not found".into(),
                });
            }
            check_no_secrets(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        for (var, key) in ECOSYSTEM_ENV {
            if let Some((_, value)) = env.iter().find(|(k, _)| k == var) {
                if !value.is_empty() {
                    figment = figment.merge(Serialized::default(key, value_for(key, value)?));
                }
            }
        }
        for (var, value) in env {
            if let Some(rest) = var.strip_prefix("FRONTDESK__") {
                let key = rest.to_ascii_lowercase().replace("__", ".");
                // Values read like TOML scalars (numbers, booleans), as figment's
                // own Env provider does; anything else stays a string.
                let parsed = value
                    .parse::<figment::value::Value>()
                    .unwrap_or_else(|_| value.clone().into());
                figment = figment.merge(Serialized::default(&key, parsed));
            }
        }
        let mut config: Config = figment.extract::<RawConfig>()?.into();
        config.validate()?;
        let b = &mut config.business;
        integrations::resolve_secrets(&mut b.http_tools, &mut b.webhooks, env)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            return bad(format!(
                "server.public_url must start with http:// or https://, got {:?}",
                self.server.public_url
            ));
        }
        if url::Url::parse(&self.realtime.base_url).is_err() {
            return bad(format!(
                "realtime.base_url is not a URL: {:?}",
                self.realtime.base_url
            ));
        }
        if url::Url::parse(&self.twilio.rest_base_url).is_err() {
            return bad(format!(
                "twilio.rest_base_url is not a URL: {:?}",
                self.twilio.rest_base_url
            ));
        }
        let stt = &self.knowledge.transcription_base_url;
        if !stt.is_empty() && url::Url::parse(stt).is_err() {
            return bad(format!(
                "knowledge.transcription_base_url is not a URL: {stt:?}"
            ));
        }
        if !(0.0..=1.0).contains(&self.realtime.vad_threshold) {
            return bad("realtime.vad_threshold must be between 0 and 1".into());
        }
        if !["near_field", "far_field", "off"].contains(&self.realtime.noise_reduction.as_str()) {
            return bad("realtime.noise_reduction must be near_field, far_field or off".into());
        }
        if !["low", "medium", "high", "auto"].contains(&self.realtime.semantic_eagerness.as_str()) {
            return bad("realtime.semantic_eagerness must be low, medium, high or auto".into());
        }
        if self.realtime.max_output_tokens == 0 || self.realtime.max_output_tokens > 4096 {
            return bad("realtime.max_output_tokens must be 1..=4096".into());
        }
        if self.call.max_call_secs == 0 || self.call.silence_timeout_secs == 0 {
            return bad("call.max_call_secs and call.silence_timeout_secs must be positive".into());
        }
        if self.realtime.session_cap_secs < 60 {
            return bad("realtime.session_cap_secs must be at least 60".into());
        }
        let db = &self.storage.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return bad(format!(
                "storage.database_url (DATABASE_URL) must be sqlite://PATH or postgres://…, got {:?}",
                crate::logmask::mask_url_password(db)
            ));
        }
        let redis = &self.storage.redis_url;
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return bad("storage.redis_url (REDIS_URL) must be redis://… or empty".into());
        }
        if self.supervision.backoff_initial_ms > self.supervision.backoff_max_ms {
            return bad("supervision.backoff_initial_ms exceeds backoff_max_ms".into());
        }
        self.business
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The `host:port` the HTTP server binds.
    pub fn listen_addr(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.server.public_url.trim_end_matches('/')
    }
}

fn value_for(key: &str, raw: &str) -> Result<figment::value::Value, ConfigError> {
    if key == "server.port" {
        let port: u16 = raw.parse().map_err(|_| {
            ConfigError::Invalid(format!("PORT must be a port number, got {raw:?}"))
        })?;
        return Ok(port.into());
    }
    Ok(raw.to_string().into())
}

fn check_no_secrets(path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let value: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    for (section, key) in SECRETS {
        let found = value
            .get(*section)
            .and_then(|s| s.as_table())
            .is_some_and(|t| t.contains_key(*key));
        if found {
            return Err(ConfigError::SecretInFile {
                key: format!("{section}.{key}"),
                path: path.to_path_buf(),
            });
        }
    }
    for (sub, key) in calendar::SECRET_KEYS {
        let found = value
            .get("calendar")
            .and_then(|c| c.get(*sub))
            .and_then(|s| s.as_table())
            .is_some_and(|t| t.contains_key(*key));
        if found {
            return Err(ConfigError::SecretInFile {
                key: format!("calendar.{sub}.{key}"),
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
