//! A caller's data requests, answered by the business: an export of
//! everything stored about their number, or its erasure (recordings at
//! Twilio first, then every row, in one transaction), each audited without
//! the data. `frontdesk privacy export|erase --phone` drives these; there is
//! no admin API yet.

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::config::Secret;
use crate::logmask::mask_phone;
use crate::store::{CallerCounts, CallerExport, Store, StoreError};
use crate::twilio::rest::{RestError, TwilioRest};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0} is not a phone number in E.164 form, like +15551234567")]
    BadPhone(String),
    #[error("nothing is stored about {0}; nothing was changed")]
    UnknownCaller(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(
        "recording {sid} could not be deleted at Twilio ({source}); nothing was erased, try again"
    )]
    Twilio { sid: String, source: RestError },
    #[error("the caller has {0} voicemail recording(s) at Twilio but Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN); nothing was erased")]
    NoTwilio(usize),
}

/// `+` and 8 to 15 digits; spaces, dashes, dots and brackets are dropped.
pub fn normalize_phone(raw: &str) -> Result<String, RequestError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(compact)
    } else {
        let masked = match mask_phone(raw) {
            m if m.is_empty() => "(no digits)".to_string(),
            m => m,
        };
        tracing::warn!(phone = %masked, "privacy request refused: not an E.164 phone number");
        Err(RequestError::BadPhone(masked))
    }
}

/// How the audit names the caller: a hash of the number, never the number.
/// (A phone number has few enough possibilities that a hash can be
/// reversed by trying them all; the audit proves a request was answered,
/// it is not meant to hide who asked from someone holding the database.)
pub fn subject_hash(phone: &str) -> String {
    let digest = Sha256::digest(format!("frontdesk-privacy-v1:{phone}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Twilio client of the configured account, when there is one.
pub fn twilio_client(config: &Config) -> Option<TwilioRest> {
    let t = &config.twilio;
    let token = t.auth_token.as_ref().map(Secret::expose)?;
    if t.account_sid.trim().is_empty() || token.is_empty() {
        return None;
    }
    TwilioRest::new(t.account_sid.trim(), token)
        .ok()
        .map(|r| r.with_base_url(&t.rest_base_url))
}

fn counts_of(export: &CallerExport) -> CallerCounts {
    let mut c = CallerCounts::default();
    for b in &export.businesses {
        c.contacts += u64::from(b.contact.is_some());
        c.appointments += b.appointments.len() as u64;
        c.messages += b.messages.len() as u64;
        for call in &b.calls {
            c.calls += 1;
            c.transcript_turns += call.transcript.len() as u64;
            c.events += call.timeline.len() as u64;
            c.tool_runs += call.tools.len() as u64;
            c.usage += call.usage_by_response.len() as u64;
            c.messages += call.messages.len() as u64;
            c.voicemails += call.voicemails.len() as u64;
        }
    }
    c
}

/// Everything stored about `phone`, audited.
pub async fn export(store: &Store, phone: &str) -> Result<CallerExport, RequestError> {
    let phone = normalize_phone(phone)?;
    let Some(export) = store.caller_export(&phone).await? else {
        tracing::info!(phone = %mask_phone(&phone), "privacy export: nothing stored");
        return Err(RequestError::UnknownCaller(mask_phone(&phone)));
    };
    let counts = counts_of(&export);
    store.record_export(&subject_hash(&phone), &counts).await?;
    tracing::info!(phone = %mask_phone(&phone), calls = counts.calls, "privacy export");
    Ok(export)
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub counts: CallerCounts,
    /// Recordings deleted at Twilio.
    pub recordings_deleted: usize,
    /// Recordings Twilio no longer had.
    pub recordings_already_gone: usize,
}

/// Erases everything stored about `phone`: the voicemail recordings at
/// Twilio first (any failure stops here, before a row is touched, so the
/// request can simply be repeated), then every row in one transaction,
/// leaving an audit row with a hash and counts.
pub async fn erase(
    store: &Store,
    twilio: Option<&TwilioRest>,
    phone: &str,
) -> Result<Erased, RequestError> {
    let phone = normalize_phone(phone)?;
    let recordings = store.caller_recordings(&phone).await?;
    let (mut deleted, mut gone) = (0, 0);
    if !recordings.is_empty() {
        let Some(rest) = twilio else {
            return Err(RequestError::NoTwilio(recordings.len()));
        };
        for sid in &recordings {
            match rest.delete_recording(sid).await {
                Ok(true) => deleted += 1,
                // A SID that is no URL segment cannot name a recording there.
                Ok(false) | Err(RestError::InvalidSid(_)) => gone += 1,
                Err(source) => {
                    tracing::warn!(phone = %mask_phone(&phone), recording_sid = %sid, error = %source,
                        "privacy erase stopped: a recording could not be deleted at Twilio");
                    return Err(RequestError::Twilio {
                        sid: sid.clone(),
                        source,
                    });
                }
            }
        }
    }
    match store.erase_caller(&phone, &subject_hash(&phone)).await? {
        Some(counts) => {
            tracing::info!(phone = %mask_phone(&phone), calls = counts.calls, rows = counts.total(),
                recordings_deleted = deleted, "privacy erase");
            Ok(Erased {
                counts,
                recordings_deleted: deleted,
                recordings_already_gone: gone,
            })
        }
        None => {
            tracing::info!(phone = %mask_phone(&phone), "privacy erase: nothing stored");
            Err(RequestError::UnknownCaller(mask_phone(&phone)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_or_refused_without_echoing_them() {
        assert_eq!(
            normalize_phone(" +1 (555) 010-0199 ").unwrap(),
            "+15550100199"
        );
        for bad in ["5550100199", "+1", "+1555abc0199", "", "+1234567890123456"] {
            assert!(
                matches!(normalize_phone(bad), Err(RequestError::BadPhone(_))),
                "{bad}"
            );
        }
        let err = normalize_phone("+1555010019x").unwrap_err().to_string();
        assert!(!err.contains("5550100"), "{err}");
    }

    #[test]
    fn the_audit_hash_is_stable_and_not_the_number() {
        let h = subject_hash("+15550100199");
        assert_eq!(h, subject_hash("+15550100199"));
        assert_ne!(h, subject_hash("+15550100198"));
        assert_eq!(h.len(), 64);
        assert!(!h.contains("5550100199"));
    }
}
