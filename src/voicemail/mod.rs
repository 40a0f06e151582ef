//! Voicemail: the caller's `<Record>`ing, fetched from Twilio, transcribed
//! by an OpenAI-compatible speech-to-text service, stored, and announced to
//! the business through the notification outbox.
//!
//! Twilio posts `recordingStatusCallback` to `/twilio/recording-status`; the
//! webhook stores the voicemail (transcript pending) and answers, and
//! [`spawn_processing`] runs the rest of the [`Voicemails`] pipeline in the background
//! (a download plus a transcription can outlast Twilio's 15 s webhook
//! timeout). A voicemail left pending by a crash is finished by
//! [`recover_periodically`] on any instance. Repeats of the
//! same callback store and notify nothing twice: the store is idempotent on
//! the recording SID and notifications are keyed `voicemail:{RecordingSid}`.

mod call_info;
mod callback;
mod pipeline;
mod retry;
mod transcribe;

use std::sync::Arc;

pub use call_info::{lookup as call_facts, CallFacts, RECORD_GRACE};
pub use callback::{CallbackError, RecordingCallback, RecordingStatus};
pub use pipeline::{FetchError, Processed, TranscriptStatus, VoicemailError, Voicemails};
pub use retry::{fetch_is_transient, RetryPolicy};
pub use transcribe::{transcription_base_url, TranscribeError, Transcriber, TRANSCRIPTION_TIMEOUT};

use crate::config::Config;
use crate::store::Store;

/// Takes a recording status callback. A `completed` one is stored at once
/// (transcript pending) and `true` is returned: the webhook answers Twilio
/// only once nothing can be lost, then [`spawn_processing`] runs the rest.
/// Other statuses (`absent`: the caller hung up without speaking) are only
/// logged. An error means the voicemail could not be stored: the webhook
/// answers 503 so Twilio may try again.
pub async fn accept(
    store: Store,
    config: Arc<Config>,
    callback: &RecordingCallback,
) -> Result<bool, VoicemailError> {
    match &callback.status {
        RecordingStatus::Completed => {
            Voicemails::new(store, config).accept(callback).await?;
            Ok(true)
        }
        RecordingStatus::Absent => {
            tracing::info!(call_sid = %callback.call_sid, recording_sid = %callback.recording_sid,
                "caller left no voicemail (recording absent)");
            Ok(false)
        }
        other => {
            tracing::debug!(call_sid = %callback.call_sid, status = other.as_str(),
                "recording status ignored");
            Ok(false)
        }
    }
}

/// Downloads, transcribes and notifies an accepted voicemail in the
/// background (a download plus a transcription can outlast Twilio's
/// webhook timeout).
pub fn spawn_processing(
    store: Store,
    config: Arc<Config>,
    callback: RecordingCallback,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = Voicemails::new(store, config).process(&callback).await {
            tracing::error!(call_sid = %callback.call_sid, recording_sid = %callback.recording_sid,
                error = %e, "voicemail not processed; it stays pending and is retried");
        }
    })
}

/// How often, and after how long, voicemails left pending by a dead
/// instance are finished by the others.
pub const RECOVER_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
pub const RECOVER_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs [`Voicemails::recover`] forever (every instance: see its note on
/// duplicates).
pub async fn recover_periodically(store: Store, config: Arc<Config>) {
    let voicemails = Voicemails::new(store, config);
    let mut tick = tokio::time::interval(RECOVER_EVERY);
    loop {
        tick.tick().await;
        match voicemails.recover(RECOVER_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(finished = n, "pending voicemails finished"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for pending voicemails; will try again")
            }
        }
    }
}
