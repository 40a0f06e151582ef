//! Opening hours: the weekly hours of the business or one department, with
//! holidays, read in the business's own timezone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};

use crate::config::business::Span;
use crate::config::{BusinessConfig, WeeklyHours};

/// How far ahead "next opening" looks: covers a long holiday closure.
const LOOKAHEAD_DAYS: i64 = 21;

/// The opening rules of the business or one department.
#[derive(Debug, Clone, Copy)]
pub struct Schedule<'a> {
    weekly: &'a WeeklyHours,
    business: &'a BusinessConfig,
}

/// One day's hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayHours {
    pub date: NaiveDate,
    pub spans: Vec<Span>,
    pub holiday: Option<String>,
}

impl<'a> Schedule<'a> {
    pub fn of_business(business: &'a BusinessConfig) -> Self {
        Schedule {
            weekly: &business.hours,
            business,
        }
    }

    pub fn of_department(business: &'a BusinessConfig, department: &str) -> Option<Self> {
        let d = business.department(department)?;
        Some(Schedule {
            weekly: d.hours.as_ref().unwrap_or(&business.hours),
            business,
        })
    }

    pub fn day(&self, date: NaiveDate) -> DayHours {
        // Holidays close (or shorten) every department alike.
        if let Some(h) = self.business.holidays.iter().find(|h| h.date == date) {
            return DayHours {
                date,
                spans: h.hours.clone(),
                holiday: Some(h.name.clone()),
            };
        }
        DayHours {
            date,
            spans: self.weekly.day(date.weekday()).to_vec(),
            holiday: None,
        }
    }

    /// The span open at this local time, if any.
    pub fn open_span(&self, local: NaiveDateTime) -> Option<Span> {
        let t = local.time();
        self.day(local.date())
            .spans
            .into_iter()
            .find(|s| s.open <= t && t < s.close)
    }

    /// The next moment (local) the doors open, strictly after `local`.
    pub fn next_opening(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        (0..=LOOKAHEAD_DAYS).find_map(|offset| {
            let date = local.date() + Duration::days(offset);
            self.day(date)
                .spans
                .iter()
                .map(|s| date.and_time(s.open))
                .find(|&at| at > local)
        })
    }

    /// "Monday: 08:00-12:00, 13:00-17:00; ...; Sunday: closed".
    pub fn weekly_summary(&self) -> String {
        WEEK.iter()
            .map(|&d| {
                let spans = self.weekly.day(d);
                let text = if spans.is_empty() {
                    "closed".to_string()
                } else {
                    spans
                        .iter()
                        .map(Span::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("{}: {}", weekday_name(d), text)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Is the operator's department open at `now` (business timezone,
/// department or business hours, holidays)? No operator, or a timezone that
/// cannot be read: false, so nobody is put through to an empty desk.
pub fn operator_open_at(business: &BusinessConfig, now: DateTime<Utc>) -> bool {
    let (Some(op), Ok(tz)) = (business.operator(), business.timezone()) else {
        return false;
    };
    let Some(schedule) = Schedule::of_department(business, &op.name) else {
        return false;
    };
    let local = now.with_timezone(&tz).naive_local();
    schedule.open_span(local).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_operator_is_open_during_its_hours_only() {
        // The sample business: Front desk, 09:00-17:00 New York, weekdays.
        let b = BusinessConfig::sample();
        // Monday 2026-11-23 10:00 in New York (EST, UTC-5).
        assert!(operator_open_at(&b, utc("2026-11-23T15:00:00Z")));
        // Monday 08:00 local: not yet.
        assert!(!operator_open_at(&b, utc("2026-11-23T13:00:00Z")));
        // Saturday.
        assert!(!operator_open_at(&b, utc("2026-11-28T15:00:00Z")));
        let mut nobody = b.clone();
        nobody.departments.clear();
        assert!(!operator_open_at(&nobody, utc("2026-11-23T15:00:00Z")));
    }
}
