//! One voicemail from Twilio's "recording completed" to the business's
//! inbox: download, transcribe, store, notify. Each remote step degrades
//! instead of failing the whole: a recording that cannot be downloaded or
//! transcribed is still stored (with its URL) and notified, without a
//! transcript, and the reason is logged.

use std::sync::Arc;
use std::time::Duration;

use super::call_info::{lookup, CallFacts, RECORD_GRACE};
use super::callback::{RecordingCallback, RecordingStatus};
use super::retry::{fetch_is_transient, RetryPolicy};
use super::transcribe::{TranscribeError, Transcriber};
use crate::config::Config;
use crate::config::Secret;
use crate::logmask::mask_phone;
use crate::notify::{notify, NotifyEvent};
use crate::store::{NewVoicemail, Store, StoreError, Voicemail};
use crate::twilio::rest::{RecordingFormat, RestError, TwilioRest};

/// What became of the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptStatus {
    Transcribed,
    /// The service heard nothing (silence, noise).
    Empty,
    /// The recording could not be downloaded from Twilio.
    FetchFailed(String),
    /// The transcription service failed or is not usable.
    TranscriptionFailed(String),
    /// A retried callback: the voicemail was stored before, nothing was redone.
    AlreadyStored,
}

/// The result of one callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub voicemail_id: i64,
    pub transcript: Option<String>,
    pub status: TranscriptStatus,
    pub department: Option<String>,
    /// Notifications queued by this run (0 when they were queued before).
    pub notifications: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum VoicemailError {
    /// Only `completed` callbacks carry a voicemail.
    #[error("recording status {0:?} carries no voicemail")]
    NotCompleted(String),
    /// The database refused or stayed away through every retry.
    #[error("voicemail could not be stored: {0}")]
    Store(#[from] StoreError),
}

/// Why the recording could not be fetched from Twilio.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("TWILIO_AUTH_TOKEN is not set")]
    NoAuthToken,
    #[error("{0}")]
    Client(RestError),
    #[error("recording download failed: {0}")]
    Download(RestError),
}

/// The pipeline, with its retry budgets.
#[derive(Clone)]
pub struct Voicemails {
    store: Store,
    config: Arc<Config>,
    fetch_retry: RetryPolicy,
    transcribe_retry: RetryPolicy,
    store_retry: RetryPolicy,
    record_grace: Duration,
}

impl Voicemails {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        Self {
            store,
            config,
            fetch_retry: RetryPolicy::FETCH,
            transcribe_retry: RetryPolicy::TRANSCRIBE,
            store_retry: RetryPolicy::STORE,
            record_grace: RECORD_GRACE,
        }
    }

    /// Overrides the retry budgets (tests use short ones).
    pub fn with_retries(
        mut self,
        fetch: RetryPolicy,
        transcribe: RetryPolicy,
        store: RetryPolicy,
    ) -> Self {
        self.fetch_retry = fetch;
        self.transcribe_retry = transcribe;
        self.store_retry = store;
        self
    }

    /// How long to wait for the call's voicemail decision to be recorded.
    pub fn with_record_grace(mut self, grace: Duration) -> Self {
        self.record_grace = grace;
        self
    }

    /// Stores the voicemail at once, its transcript pending, and returns its
    /// id: from here on a crash loses nothing, the pending row is picked up
    /// again by [`Voicemails::recover`]. Idempotent on the recording SID.
    pub async fn accept(&self, cb: &RecordingCallback) -> Result<i64, VoicemailError> {
        if cb.status != RecordingStatus::Completed {
            return Err(VoicemailError::NotCompleted(cb.status.as_str().to_owned()));
        }
        let new = NewVoicemail {
            call_sid: cb.call_sid.clone(),
            recording_sid: cb.recording_sid.clone(),
            recording_url: cb.recording_url.clone(),
            duration_secs: cb.duration_secs,
            transcript: None,
            pending: true,
        };
        self.store_retry
            .run(
                || self.store.add_voicemail(new.clone()),
                StoreError::is_transient,
                |attempt, e| {
                    tracing::warn!(recording_sid = %cb.recording_sid, attempt, error = %e,
                        "storing the voicemail failed")
                },
            )
            .await
            .inspect_err(|e| {
                // Twilio keeps the recording: this line is what an operator
                // needs to recover it.
                tracing::error!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid,
                    recording_url = %cb.recording_url, error = %e, "voicemail LOST from the database");
            })
            .map_err(VoicemailError::Store)
    }

    /// Handles one `completed` recording callback, end to end: stored first
    /// (see [`Voicemails::accept`]), then downloaded, transcribed, finished
    /// and notified.
    pub async fn process(&self, cb: &RecordingCallback) -> Result<Processed, VoicemailError> {
        if cb.status != RecordingStatus::Completed {
            return Err(VoicemailError::NotCompleted(cb.status.as_str().to_owned()));
        }
        let voicemail_id = match self.stored(cb).await {
            Some(existing) if !existing.pending => return self.renotify(cb, existing).await,
            Some(pending) => pending.id,
            None => self.accept(cb).await?,
        };
        let (transcript, status) = match self.download(cb).await {
            Ok(wav) => match self.transcribe(wav).await {
                Ok(text) if text.is_empty() => (None, TranscriptStatus::Empty),
                // Only the redacted transcript is kept and sent.
                Ok(text) => (
                    Some(
                        crate::privacy::redactor(&self.config)
                            .text(&text, crate::privacy::Topic::default())
                            .into_owned(),
                    ),
                    TranscriptStatus::Transcribed,
                ),
                Err(e) => (None, TranscriptStatus::TranscriptionFailed(e.to_string())),
            },
            Err(e) => (None, TranscriptStatus::FetchFailed(e.to_string())),
        };
        match &status {
            TranscriptStatus::FetchFailed(reason)
            | TranscriptStatus::TranscriptionFailed(reason) => {
                tracing::warn!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid, %reason,
                    "voicemail goes out without a transcript");
            }
            TranscriptStatus::Empty => {
                tracing::info!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid,
                    "voicemail transcript is empty (silence?)");
            }
            TranscriptStatus::Transcribed | TranscriptStatus::AlreadyStored => {}
        }
        self.store_retry
            .run(
                || {
                    self.store
                        .finish_voicemail(voicemail_id, transcript.as_deref())
                },
                StoreError::is_transient,
                |attempt, e| {
                    tracing::warn!(recording_sid = %cb.recording_sid, attempt, error = %e,
                        "storing the transcript failed")
                },
            )
            .await?;
        let facts = self.facts(&cb.call_sid).await;
        let notifications = self
            .notify(
                cb,
                &facts,
                transcript.clone(),
                &cb.recording_url,
                cb.duration_secs,
            )
            .await?;
        tracing::info!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid, voicemail_id,
            department = facts.department.as_deref().unwrap_or("-"), transcribed = transcript.is_some(),
            notifications, "voicemail stored");
        Ok(Processed {
            voicemail_id,
            transcript,
            status,
            department: facts.department,
            notifications,
        })
    }

    /// Finishes voicemails that were stored more than `stale` ago and are
    /// still pending: the instance that took them died before their
    /// transcript step. Returns how many were finished. Several instances
    /// may finish the same one; its transcript is written twice and its
    /// notification is queued once (keyed by recording SID).
    pub async fn recover(&self, stale: Duration) -> Result<usize, StoreError> {
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(stale).unwrap_or(chrono::Duration::zero());
        let pending = self.store.pending_voicemails(before, 50).await?;
        let mut finished = 0;
        for v in pending {
            let cb = RecordingCallback {
                account_sid: self.config.twilio.account_sid.clone(),
                call_sid: v.call_sid.clone(),
                recording_sid: v.recording_sid.clone(),
                recording_url: v.recording_url.clone().unwrap_or_default(),
                status: RecordingStatus::Completed,
                duration_secs: v.duration_secs,
                channels: 1,
                source: "RecordVerb".into(),
            };
            tracing::info!(call_sid = %v.call_sid, recording_sid = %v.recording_sid,
                "finishing a voicemail left pending");
            match self.process(&cb).await {
                Ok(_) => finished += 1,
                Err(e) => tracing::warn!(recording_sid = %v.recording_sid, error = %e,
                    "pending voicemail not finished; will try again"),
            }
        }
        Ok(finished)
    }

    /// The voicemail stored by an earlier delivery of this callback.
    async fn stored(&self, cb: &RecordingCallback) -> Option<Voicemail> {
        match self.store.call_detail(&cb.call_sid).await {
            Ok(detail) => detail?
                .voicemails
                .into_iter()
                .find(|v| v.recording_sid == cb.recording_sid),
            // The write below retries and is idempotent anyway.
            Err(_) => None,
        }
    }

    /// A repeat: nothing is downloaded or stored again. Notifying again is
    /// idempotent and covers a crash between the store and the outbox.
    async fn renotify(
        &self,
        cb: &RecordingCallback,
        existing: Voicemail,
    ) -> Result<Processed, VoicemailError> {
        let facts = self.facts(&cb.call_sid).await;
        let url = existing
            .recording_url
            .clone()
            .unwrap_or_else(|| cb.recording_url.clone());
        let notifications = self
            .notify(
                cb,
                &facts,
                existing.transcript.clone(),
                &url,
                existing.duration_secs,
            )
            .await?;
        tracing::info!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid, notifications,
            "repeated recording callback: voicemail already stored");
        Ok(Processed {
            voicemail_id: existing.id,
            transcript: existing.transcript,
            status: TranscriptStatus::AlreadyStored,
            department: facts.department,
            notifications,
        })
    }

    async fn facts(&self, call_sid: &str) -> CallFacts {
        lookup(&self.store, call_sid, self.record_grace)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(call_sid, error = %e, "call record unreadable; voicemail without caller details");
                CallFacts::default()
            })
    }

    async fn notify(
        &self,
        cb: &RecordingCallback,
        facts: &CallFacts,
        transcript: Option<String>,
        recording_url: &str,
        duration_secs: i32,
    ) -> Result<usize, StoreError> {
        let event = NotifyEvent::Voicemail {
            call_sid: cb.call_sid.clone(),
            from: facts
                .from
                .clone()
                .unwrap_or_else(|| "an unknown number".into()),
            department: facts.department.clone(),
            duration_secs,
            transcript,
            recording_url: recording_url.to_owned(),
        };
        let key = format!("voicemail:{}", cb.recording_sid);
        self.store_retry
            .run(
                || notify(&self.store, &self.config, &event, &key),
                StoreError::is_transient,
                |attempt, e| {
                    tracing::warn!(recording_sid = %cb.recording_sid, attempt, error = %e,
                        "queueing the voicemail notification failed")
                },
            )
            .await
            .inspect_err(|e| {
                tracing::error!(call_sid = %cb.call_sid, recording_sid = %cb.recording_sid,
                    from = %facts.from.as_deref().map(mask_phone).unwrap_or_default(), error = %e,
                    "voicemail stored but its notification could not be queued");
            })
    }

    /// The recording's WAV from Twilio's REST API (Basic auth), or why not.
    async fn download(&self, cb: &RecordingCallback) -> Result<bytes::Bytes, FetchError> {
        let twilio = &self.config.twilio;
        let Some(token) = twilio
            .auth_token
            .as_ref()
            .map(Secret::expose)
            .filter(|t| !t.is_empty())
        else {
            return Err(FetchError::NoAuthToken);
        };
        // The recording lives under the account that made it; the configured
        // account (a parent) may fetch a subaccount's recordings too.
        let account = match twilio.account_sid.trim() {
            "" => cb.account_sid.as_str(),
            own => own,
        };
        let rest = TwilioRest::new(account, token)
            .map_err(FetchError::Client)?
            .with_base_url(&twilio.rest_base_url);
        self.fetch_retry
            .run(
                || rest.fetch_recording(&cb.recording_sid, RecordingFormat::Wav),
                fetch_is_transient,
                |attempt, e| {
                    tracing::warn!(recording_sid = %cb.recording_sid, attempt, error = %e,
                        "recording download failed")
                },
            )
            .await
            .map_err(FetchError::Download)
    }

    /// The transcript (possibly empty), or why there is none.
    async fn transcribe(&self, wav: bytes::Bytes) -> Result<String, TranscribeError> {
        let transcriber = Transcriber::from_config(&self.config)?;
        self.transcribe_retry
            .run(
                || transcriber.transcribe(wav.clone()),
                TranscribeError::is_transient,
                |attempt, e| tracing::warn!(attempt, error = %e, "voicemail transcription failed"),
            )
            .await
    }
}
