//! Voicemail: the caller's `<Record>`ing, fetched from Twilio, transcribed
//! by an OpenAI-compatible speech-to-text service, stored, and announced to
//! the business through the notification outbox.
//!
//! Twilio posts `recordingStatusCallback` to `/twilio/recording-status`; the
//! webhook answers at once and hands the callback to [`start`], which runs
//! the [`Voicemails`] pipeline in the background (a download plus a
//! transcription can outlast Twilio's 15 s webhook timeout). Repeats of the
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

/// Takes a recording status callback: a `completed` one starts the
/// pipeline in the background and the handle is returned; other statuses
/// (`absent`: the caller hung up without speaking) are only logged.
pub fn start(
    store: Store,
    config: Arc<Config>,
    callback: RecordingCallback,
) -> Option<tokio::task::JoinHandle<()>> {
    match &callback.status {
        RecordingStatus::Completed => {}
        RecordingStatus::Absent => {
            tracing::info!(call_sid = %callback.call_sid, recording_sid = %callback.recording_sid,
                "caller left no voicemail (recording absent)");
            return None;
        }
        other => {
            tracing::debug!(call_sid = %callback.call_sid, status = other.as_str(),
                "recording status ignored");
            return None;
        }
    }
    Some(tokio::spawn(async move {
        if let Err(e) = Voicemails::new(store, config).process(&callback).await {
            tracing::error!(call_sid = %callback.call_sid, recording_sid = %callback.recording_sid,
                error = %e, "voicemail not processed");
        }
    }))
}
