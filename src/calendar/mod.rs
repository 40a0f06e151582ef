//! Calendars the receptionist books into. [`Calendar`] is the adapter
//! trait; [`BuiltinCalendar`] (the appointments table) is the default, and a
//! Google or Microsoft calendar is another implementation of the same trait.
//!
//! # The contract every adapter keeps
//!
//! - Times are instants (`DateTime<Utc>`); the caller of the trait does all
//!   local-time reasoning (business hours, DST) in [`slots`].
//! - A booking *holds* `[start, end)`, half-open, where `end` already
//!   includes the service's buffer. Holds of one calendar never overlap:
//!   [`Calendar::book`] and [`Calendar::reschedule`] must refuse with
//!   [`CalendarError::Conflict`] when the range is taken *at the moment of
//!   writing* (checked atomically by the backend, not by a prior read), so a
//!   race between two callers books exactly one of them.
//! - [`Calendar::busy`] returns every held range overlapping the window,
//!   whoever booked it (including events the adapter did not create).
//! - [`Calendar::reschedule`] is atomic: either the booking moves, or it
//!   stays where it was. An adapter without transactions books the new range
//!   first and cancels the old one only once that succeeded (and cancels the
//!   new one again if the old cannot be released).
//! - [`Calendar::cancel`] answers [`CalendarError::NotFound`] for a booking
//!   that does not exist or is already cancelled.
//! - Ids are opaque strings chosen by the adapter.
//! - Failures to reach the backend are [`CalendarError::Unavailable`]; the
//!   tools tell the caller to try again or leave a message.

mod builtin;
pub mod caldav;
pub mod google;
mod ical;
pub mod local;
pub mod microsoft;
mod oauth;
mod remote;
pub mod slots;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use builtin::BuiltinCalendar;
pub use caldav::CalDavCalendar;
pub use google::GoogleCalendar;
pub use microsoft::MicrosoftCalendar;

use crate::config::calendar::{CalendarConfig, CalendarKind};

/// The provider calendar a business configured, built once and shared by
/// every call; `None` for the built-in calendar (per call, over the call's
/// store) and for `kind = "none"`.
pub fn provider(
    config: &CalendarConfig,
) -> Result<Option<std::sync::Arc<dyn Calendar>>, CalendarError> {
    let timeout = std::time::Duration::from_millis(config.timeout_ms);
    Ok(match config.kind {
        CalendarKind::Builtin | CalendarKind::None => None,
        CalendarKind::Caldav => Some(std::sync::Arc::new(CalDavCalendar::new(
            &config.caldav,
            timeout,
        )?)),
        CalendarKind::Google => Some(std::sync::Arc::new(GoogleCalendar::new(
            &config.google,
            timeout,
        )?)),
        CalendarKind::Microsoft => Some(std::sync::Arc::new(MicrosoftCalendar::new(
            &config.microsoft,
            timeout,
        )?)),
    })
}

/// A half-open range of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Interval { start, end }
    }

    /// Touching ranges do not overlap.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// What to book. `end` is the end of the hold: appointment plus buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub service: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub name: String,
    /// E.164; how the caller finds the booking again.
    pub phone: String,
    pub purpose: String,
}

/// A booking as the calendar holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: String,
    pub service: String,
    pub start: DateTime<Utc>,
    /// End of the hold (buffer included).
    pub end: DateTime<Utc>,
    pub name: String,
    pub phone: String,
    pub purpose: String,
}

impl Booking {
    pub fn held(&self) -> Interval {
        Interval::new(self.start, self.end)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The range is (now) taken by another booking.
    #[error("that time is already taken: {0}")]
    Conflict(String),
    /// No such booking, or it is no longer booked.
    #[error("no such booking")]
    NotFound,
    /// The request itself is unusable (for instance it ends before it starts).
    #[error("invalid booking: {0}")]
    Invalid(String),
    /// The backend could not be reached or failed; trying later may help.
    #[error("calendar unavailable: {0}")]
    Unavailable(String),
}

pub type CalendarFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, CalendarError>> + Send + 'a>>;

/// A calendar of one business. Object-safe (boxed futures) so the tools can
/// hold any adapter as `Arc<dyn Calendar>`.
pub trait Calendar: Send + Sync {
    /// A short name for logs ("builtin", "google", ...).
    fn kind(&self) -> &'static str;

    /// Held ranges overlapping `[from, to)`, earliest first.
    fn busy(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarFuture<'_, Vec<Interval>>;

    /// Books atomically; [`CalendarError::Conflict`] when the range is taken.
    fn book(&self, request: BookingRequest) -> CalendarFuture<'_, Booking>;

    /// Cancels a booking and returns it as it was.
    fn cancel(&self, id: String) -> CalendarFuture<'_, Booking>;

    /// Bookings under this phone number that have not ended by `from`,
    /// earliest first.
    fn find_by_phone(&self, phone: String, from: DateTime<Utc>)
        -> CalendarFuture<'_, Vec<Booking>>;

    /// Moves a booking to hold `[start, end)`, atomically; returns the booking
    /// as it now is (its id may change).
    fn reschedule(
        &self,
        id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CalendarFuture<'_, Booking>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn intervals_are_half_open() {
        let t = |m| Utc.with_ymd_and_hms(2026, 6, 1, 9, m, 0).unwrap();
        let a = Interval::new(t(0), t(30));
        assert!(a.overlaps(&Interval::new(t(29), t(40))));
        assert!(a.overlaps(&Interval::new(t(5), t(10))));
        assert!(!a.overlaps(&Interval::new(t(30), t(40))));
        assert!(!Interval::new(t(30), t(40)).overlaps(&a));
    }
}
