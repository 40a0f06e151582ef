//! What the calendar providers' clients share: an HTTP client with the
//! configured deadline, and errors that say what went wrong without ever
//! carrying a credential (no URLs with user info, no headers, no bodies of
//! token answers).

use std::time::Duration;

use super::CalendarError;

/// Longest part of a provider's error body quoted in an error.
const QUOTED: usize = 200;

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, CalendarError> {
    // reqwest is built without a bundled rustls provider; installing ring is
    // a no-op when the binary already did.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CalendarError::Unavailable(format!("HTTP client: {}", e.without_url())))
}

/// A request that never got an answer.
pub(crate) fn transport(kind: &str, e: reqwest::Error) -> CalendarError {
    let why = if e.is_timeout() {
        "did not answer in time".to_string()
    } else if e.is_connect() {
        "cannot be reached".to_string()
    } else {
        e.without_url().to_string()
    };
    let err = CalendarError::Unavailable(format!("{kind} calendar {why}"));
    tracing::warn!(calendar = kind, error = %err, "calendar request failed");
    err
}

/// An answer with an unexpected status.
pub(crate) fn status(
    kind: &str,
    what: &str,
    code: reqwest::StatusCode,
    body: &str,
) -> CalendarError {
    let quoted: String = body.chars().take(QUOTED).collect();
    let err = match code.as_u16() {
        401 | 403 => CalendarError::Unavailable(format!(
            "{kind} calendar refused the credentials ({code}) on {what}; check them"
        )),
        400 | 422 => CalendarError::Invalid(format!(
            "{kind} calendar rejected {what} ({code}): {}",
            quoted.trim()
        )),
        _ => CalendarError::Unavailable(format!(
            "{kind} calendar answered {code} to {what}: {}",
            quoted.trim()
        )),
    };
    tracing::warn!(calendar = kind, error = %err, "calendar request refused");
    err
}

/// An answer that does not parse.
/// What a write that found another event in its range answers, once it has
/// been undone: the tools turn it into "that slot was just taken".
pub(crate) fn clash() -> CalendarError {
    CalendarError::Conflict("another event holds that time in the calendar".into())
}

/// The re-check after a write (no provider refuses overlapping events):
/// `taken` is whether anything but the new event holds its range. Taken, or
/// not known, the write is undone with `undo` and the clash (or the failed
/// check) reported.
pub(crate) async fn keep_unless_taken<U>(
    taken: Result<bool, CalendarError>,
    undo: impl FnOnce() -> U,
) -> Result<(), CalendarError>
where
    U: std::future::Future,
{
    match taken {
        Ok(false) => Ok(()),
        other => {
            let _ = undo().await;
            other?;
            Err(clash())
        }
    }
}

pub(crate) fn garbled(kind: &str, what: &str, e: impl std::fmt::Display) -> CalendarError {
    let err = CalendarError::Unavailable(format!("{kind} calendar sent an unreadable {what}: {e}"));
    tracing::warn!(calendar = kind, error = %err, "calendar answer unreadable");
    err
}

/// `end` must be after `start`.
pub(crate) fn check_range(
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<(), CalendarError> {
    if end <= start {
        return Err(CalendarError::Invalid(format!(
            "a booking must end after it starts ({start} .. {end})"
        )));
    }
    Ok(())
}

/// A fresh opaque identifier (event UIDs, resource names).
pub(crate) fn new_uid() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("frontdesk-{hex}")
}

/// How far ahead `find_by_phone` looks for a caller's bookings.
pub(crate) const FIND_AHEAD_DAYS: i64 = 400;

/// A JSON API behind OAuth 2 bearer tokens (Google Calendar, Graph).
pub(crate) struct JsonApi {
    pub kind: &'static str,
    pub http: reqwest::Client,
    pub tokens: super::oauth::TokenSource,
}

/// An answer of a [`JsonApi`]: status and body (`Null` when empty); both
/// APIs carry the ETag in the body.
pub(crate) struct Answer {
    pub code: reqwest::StatusCode,
    pub body: serde_json::Value,
    pub text: String,
}

impl JsonApi {
    /// Sends one request with a bearer token; a 401 drops the token and
    /// tries once more with a new one (it may have been revoked early).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CalendarError> {
        for attempt in 0..2 {
            let token = self.tokens.bearer().await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().await.map_err(|e| transport(self.kind, e))?;
            let code = res.status();
            if code == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                self.tokens.forget();
                continue;
            }
            let text = res.text().await.map_err(|e| transport(self.kind, e))?;
            let body = if text.trim().is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
            };
            return Ok(Answer { code, body, text });
        }
        Err(CalendarError::Unavailable(format!(
            "{} calendar refused a fresh token; check the credentials",
            self.kind
        )))
    }

    /// The error of an unexpected answer (the provider's message quoted).
    pub fn fail(&self, what: &str, a: &Answer) -> CalendarError {
        let message = a.body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a.text.clone());
        status(self.kind, what, a.code, &message)
    }
}

/// `RFC 3339` with a `Z`, as both APIs accept.
pub(crate) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
