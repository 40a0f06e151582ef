//! The periodic purge of the business's retention policy: each kind past
//! its own period, and voicemail recordings deleted at Twilio too.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, RetentionDays};
use crate::store::{RetentionCutoffs, RetentionReport, Store, StoreError};
use crate::twilio::rest::{RestError, TwilioRest};

/// How often the policy is applied.
pub const PURGE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// The configured periods: `[privacy.retention]`, else `storage.retention_days`.
pub fn policy(config: &Config) -> RetentionDays {
    config
        .business
        .privacy
        .retention
        .resolve(config.storage.retention_days)
}

fn cutoff(days: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (days > 0).then(|| now - chrono::Duration::days(i64::from(days)))
}

/// Applies `days` once, as of `now`. Recordings are deleted at Twilio when
/// a client is given; one that fails keeps its URL and is tried again next
/// time. Without Twilio the URL is dropped and the audio stays there
/// (logged): the engine cannot reach it.
pub async fn purge(
    store: &Store,
    twilio: Option<&TwilioRest>,
    days: RetentionDays,
    now: DateTime<Utc>,
) -> Result<RetentionReport, StoreError> {
    let mut report = store
        .purge_kinds(&RetentionCutoffs {
            transcripts: cutoff(days.transcripts, now),
            voicemails: cutoff(days.voicemails, now),
            messages: cutoff(days.messages, now),
            call_metadata: cutoff(days.call_metadata, now),
        })
        .await?;
    if let Some(c) = cutoff(days.recordings, now) {
        let expired = store.expired_recordings(c).await?;
        let mut done = Vec::with_capacity(expired.len());
        for rec in &expired {
            match twilio {
                Some(rest) => match rest.delete_recording(&rec.recording_sid).await {
                    Ok(_) | Err(RestError::InvalidSid(_)) => done.push(rec.voicemail_id),
                    Err(e) => tracing::warn!(recording_sid = %rec.recording_sid, error = %e,
                        "retention: recording not deleted at Twilio; will try again"),
                },
                None => done.push(rec.voicemail_id),
            }
        }
        if twilio.is_none() && !done.is_empty() {
            tracing::warn!(
                recordings = done.len(),
                "retention: Twilio is not configured, so expired recordings stay in the Twilio account; only their URLs are dropped here"
            );
        }
        report.recordings = store.forget_recordings(&done).await?;
    }
    if report.total() > 0 {
        tracing::info!(
            transcript_turns = report.transcript_turns,
            tool_runs = report.tool_runs_blanked,
            voicemail_transcripts = report.voicemail_transcripts,
            recordings = report.recordings,
            messages = report.messages,
            calls = report.calls,
            "retention purge"
        );
    }
    Ok(report)
}

/// Applies the configured policy every [`PURGE_EVERY`], from start-up on.
pub async fn run_periodically(store: Store, config: Arc<Config>) {
    let days = policy(&config);
    if !days.any() {
        return;
    }
    let twilio = super::requests::twilio_client(&config);
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = purge(&store, twilio.as_ref(), days, Utc::now()).await {
            tracing::warn!(error = %e, "retention purge failed; will try again");
        }
    }
}
