//! Local wall time of the business: turning wall-clock times into instants
//! across DST changes, reading the model's ISO times, and saying times the
//! way a receptionist would.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, SecondsFormat, TimeZone, Timelike,
};
use chrono_tz::Tz;

use crate::business::hours::weekday_name;

/// Every instant that shows `naive` on the business's wall clock: none in a
/// spring-forward gap, two in a fall-back overlap (earlier first).
pub fn instants(tz: Tz, naive: NaiveDateTime) -> Vec<DateTime<Tz>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => vec![t],
        LocalResult::Ambiguous(a, b) => vec![a, b],
        LocalResult::None => Vec::new(),
    }
}

/// The instant the wall clock passes `naive` for the last time: the later
/// one in an overlap, the jump itself when `naive` falls in a gap.
pub fn last_passing(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Tz>> {
    if let Some(t) = instants(tz, naive).pop() {
        return Some(t);
    }
    // Gaps are at most a few hours long; the first wall time after the gap
    // is the instant the clock jumped past `naive`.
    (1..=24 * 60)
        .map(|m| naive + Duration::minutes(m))
        .find_map(|n| tz.from_local_datetime(&n).earliest())
}

/// `2026-11-24T14:30:00-05:00`.
pub fn iso(t: &DateTime<Tz>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// "Tuesday 24 November".
pub fn spoken_day(date: NaiveDate) -> String {
    format!(
        "{} {} {}",
        weekday_name(date.weekday()),
        date.day(),
        month_name(date.month())
    )
}

/// "2:30 pm", "10 am".
pub fn spoken_time(t: NaiveTime) -> String {
    let (pm, h12) = t.hour12();
    let half = if pm { "pm" } else { "am" };
    if t.minute() == 0 {
        format!("{h12} {half}")
    } else {
        format!("{h12}:{:02} {half}", t.minute())
    }
}

/// "Tuesday 24 November at 2:30 pm".
pub fn spoken(t: &DateTime<Tz>) -> String {
    format!(
        "{} at {}",
        spoken_day(t.date_naive()),
        spoken_time(t.time())
    )
}

fn month_name(m: u32) -> &'static str {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    MONTHS
        .get(m.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("")
}

/// Why a start time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("{0:?} is not an ISO 8601 date and time like 2026-11-24T14:30 (local time) or 2026-11-24T14:30:00-05:00")]
    Malformed(String),
    #[error("{0} does not exist in {1}: the clocks skip that hour")]
    Nonexistent(NaiveDateTime, Tz),
    #[error("{0} happens twice in {1} (the clocks go back); give the UTC offset too")]
    Ambiguous(NaiveDateTime, Tz),
    #[error("{given} has offset {offset}, but {tz} is at {expected} then; send the local time without an offset")]
    OffsetMismatch {
        given: String,
        offset: FixedOffset,
        expected: FixedOffset,
        tz: Tz,
    },
}

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
];
const OFFSET_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"];

/// Reads a start time the model resolved: local wall time (preferred), or
/// with an offset that must be the business's offset at that moment — a
/// wrong offset would silently book another hour.
pub fn parse_start(text: &str, tz: Tz) -> Result<DateTime<Tz>, StartError> {
    let s = text.trim();
    if let Some(t) = parse_with_offset(s) {
        let local = t.with_timezone(&tz);
        let expected = local.offset().fix();
        if expected != *t.offset() {
            return Err(StartError::OffsetMismatch {
                given: s.to_string(),
                offset: *t.offset(),
                expected,
                tz,
            });
        }
        return Ok(local);
    }
    let naive = NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| StartError::Malformed(s.to_string()))?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t),
        LocalResult::Ambiguous(..) => Err(StartError::Ambiguous(naive, tz)),
        LocalResult::None => Err(StartError::Nonexistent(naive, tz)),
    }
}

fn parse_with_offset(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        let s = s
            .strip_suffix('Z')
            .or_else(|| s.strip_suffix('z'))
            .map(|rest| format!("{rest}+00:00"))
            .unwrap_or_else(|| s.to_string());
        OFFSET_FORMATS
            .iter()
            .find_map(|f| DateTime::parse_from_str(&s, f).ok())
    })
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// `HH:MM` (24-hour).
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use chrono_tz::America::New_York;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn gaps_have_no_instant_and_overlaps_two() {
        assert!(instants(New_York, naive("2026-03-08T02:30")).is_empty());
        let two = instants(New_York, naive("2026-11-01T01:30"));
        assert_eq!(two.len(), 2);
        assert_eq!(two[1] - two[0], Duration::hours(1));
        // Closing inside the gap means closing at the jump (03:00 EDT = 07:00Z).
        let jump = last_passing(New_York, naive("2026-03-08T02:30")).unwrap();
        assert_eq!(
            jump.with_timezone(&Utc).to_rfc3339(),
            "2026-03-08T07:00:00+00:00"
        );
        let later = last_passing(New_York, naive("2026-11-01T01:30")).unwrap();
        assert_eq!(later, two[1]);
    }

    #[test]
    fn spoken_forms() {
        let t = New_York.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap();
        assert_eq!(spoken(&t), "Tuesday 24 November at 2:30 pm");
        assert_eq!(iso(&t), "2026-11-24T14:30:00-05:00");
        let t = New_York.with_ymd_and_hms(2026, 7, 6, 10, 0, 0).unwrap();
        assert_eq!(spoken(&t), "Monday 6 July at 10 am");
        assert_eq!(iso(&t), "2026-07-06T10:00:00-04:00");
        assert_eq!(
            spoken_time(NaiveTime::from_hms_opt(0, 15, 0).unwrap()),
            "12:15 am"
        );
        assert_eq!(
            spoken_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()),
            "12 pm"
        );
    }

    #[test]
    fn starts_parse_as_local_or_with_the_right_offset() {
        let want = New_York.with_ymd_and_hms(2026, 11, 24, 14, 30, 0).unwrap();
        for s in [
            "2026-11-24T14:30",
            "2026-11-24T14:30:00",
            "2026-11-24 14:30",
            "2026-11-24T14:30:00-05:00",
            "2026-11-24T14:30-05:00",
            " 2026-11-24T14:30:00-05:00 ",
        ] {
            assert_eq!(parse_start(s, New_York), Ok(want), "{s}");
        }
        assert!(matches!(
            parse_start("2026-11-24T14:30:00-04:00", New_York),
            Err(StartError::OffsetMismatch { .. })
        ));
        assert!(matches!(
            parse_start("2026-11-24T19:30:00Z", New_York),
            Err(StartError::OffsetMismatch { .. })
        ));
        assert!(matches!(
            parse_start("2026-03-08T02:30", New_York),
            Err(StartError::Nonexistent(..))
        ));
        assert!(matches!(
            parse_start("2026-11-01T01:30", New_York),
            Err(StartError::Ambiguous(..))
        ));
        // With its offset, the second 01:30 is a definite instant.
        assert_eq!(
            parse_start("2026-11-01T01:30:00-05:00", New_York)
                .unwrap()
                .with_timezone(&Utc)
                .to_rfc3339(),
            "2026-11-01T06:30:00+00:00"
        );
        for bad in [
            "tomorrow at 3",
            "2026-11-24",
            "2026-13-01T10:00",
            "2026-11-24T25:00",
            "",
        ] {
            assert!(
                matches!(parse_start(bad, New_York), Err(StartError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn dates_and_clock_times() {
        assert_eq!(
            parse_date("2026-11-24"),
            NaiveDate::from_ymd_opt(2026, 11, 24)
        );
        assert_eq!(parse_date("24/11/2026"), None);
        assert_eq!(parse_hhmm("14:30"), NaiveTime::from_hms_opt(14, 30, 0));
        assert_eq!(parse_hhmm("2pm"), None);
    }
}
