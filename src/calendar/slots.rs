//! Bookable slots, computed without I/O: the business's hours and holidays
//! (through [`Schedule`]), the service's duration and buffer, the slot
//! granularity and booking horizon, existing holds, and the clock.
//!
//! Starts are generated in local wall time and then converted, so a slot on
//! a DST-change day keeps its wall-clock time: wall times inside the
//! spring-forward gap do not exist and are skipped; wall times inside the
//! fall-back overlap happen twice and give two slots.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::local::{instants, last_passing};
use super::Interval;
use crate::business::hours::Schedule;
use crate::config::business::Span;
use crate::config::business::{BusinessConfigError, Service};
use crate::config::{BookingsConfig, BusinessConfig};

/// The rules for one service.
#[derive(Debug, Clone, Copy)]
pub struct SlotRules<'a> {
    pub schedule: Schedule<'a>,
    pub tz: Tz,
    pub duration: Duration,
    /// Kept free after each appointment (part of its hold).
    pub buffer: Duration,
    /// Appointments start on multiples of this many minutes of the local day.
    pub step_minutes: u32,
    /// Bookable up to this many days after today (local).
    pub horizon_days: u32,
}

/// One bookable appointment time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Tz>,
    /// When the appointment itself ends.
    pub end: DateTime<Tz>,
    /// When its hold ends (buffer included).
    pub held_until: DateTime<Utc>,
}

impl Slot {
    pub fn held(&self) -> Interval {
        Interval::new(self.start.with_timezone(&Utc), self.held_until)
    }
}

/// A local time-of-day window callers ask for ("after 2", "before noon"):
/// the appointment starts at or after `after` and before `before`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Within {
    pub after: Option<NaiveTime>,
    pub before: Option<NaiveTime>,
}

impl Within {
    pub fn admits(&self, slot: &Slot) -> bool {
        let t = slot.start.time();
        self.after.is_none_or(|a| t >= a) && self.before.is_none_or(|b| t < b)
    }
}

/// Why a requested start cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("that time has already passed")]
    Past,
    #[error("bookings are only taken up to {last} ({days} days ahead)")]
    BeyondHorizon { last: NaiveDate, days: u32 },
    #[error("the business is closed all day on {date}{}", holiday_suffix(.holiday))]
    Closed {
        date: NaiveDate,
        holiday: Option<String>,
    },
    #[error("that is outside opening hours; hours on {date}: {}", spans_text(.spans))]
    OutsideHours { date: NaiveDate, spans: Vec<Span> },
    #[error("appointments start every {step} minutes (on the hour, and {step} minutes past, ...)")]
    OffGrid { step: u32 },
    #[error("a {minutes}-minute appointment then would run past closing at {}", .close.format("%H:%M"))]
    RunsPastClosing { minutes: i64, close: NaiveTime },
    #[error("that time is already taken")]
    Taken,
}

fn holiday_suffix(h: &Option<String>) -> String {
    h.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

fn spans_text(spans: &[Span]) -> String {
    spans
        .iter()
        .map(Span::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a service cannot be booked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotRulesError {
    #[error("service {0:?} has no duration configured")]
    NoDuration(String),
    #[error(transparent)]
    Business(#[from] BusinessConfigError),
}

impl<'a> SlotRules<'a> {
    /// The rules for booking `service` at this business. Fails on a service
    /// that cannot be booked at all (no duration) or a bad timezone.
    pub fn for_service(
        business: &'a BusinessConfig,
        service: &Service,
        bookings: &BookingsConfig,
    ) -> Result<Self, SlotRulesError> {
        if service.duration_min == 0 {
            return Err(SlotRulesError::NoDuration(service.name.clone()));
        }
        Ok(SlotRules {
            schedule: Schedule::of_business(business),
            tz: business.timezone()?,
            duration: Duration::minutes(i64::from(service.duration_min)),
            buffer: Duration::minutes(i64::from(service.buffer_min)),
            step_minutes: bookings.slot_minutes,
            horizon_days: bookings.horizon_days,
        })
    }

    fn step(&self) -> u32 {
        self.step_minutes.max(1)
    }

    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }

    /// The last local date bookings are taken for.
    pub fn last_date(&self, now: DateTime<Utc>) -> NaiveDate {
        self.today(now) + Duration::days(i64::from(self.horizon_days))
    }

    /// Instants surely covering every slot of local dates `from..=to`, for
    /// asking the calendar what is busy (offsets never exceed a day).
    pub fn window(&self, from: NaiveDate, to: NaiveDate) -> Interval {
        let edge = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
        Interval::new(edge(from - Duration::days(2)), edge(to + Duration::days(2)))
    }

    /// Every start the hours allow on `date`, ignoring holds and the clock.
    pub fn candidates(&self, date: NaiveDate) -> Vec<Slot> {
        let step = self.step();
        let mut out = Vec::new();
        for span in self.schedule.day(date).spans {
            let Some(close) = last_passing(self.tz, date.and_time(span.close)) else {
                continue;
            };
            let open = span.open.num_seconds_from_midnight() / 60;
            let close_min = span.close.num_seconds_from_midnight() / 60;
            let mut minute = open.div_ceil(step) * step;
            while minute < close_min {
                let Some(wall) = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0) else {
                    break;
                };
                for start in instants(self.tz, date.and_time(wall)) {
                    let end = start + self.duration;
                    if end <= close {
                        out.push(Slot {
                            start,
                            end,
                            held_until: (end + self.buffer).with_timezone(&Utc),
                        });
                    }
                }
                minute += step;
            }
        }
        out.sort_by_key(|s| s.start);
        out.dedup();
        out
    }

    /// Whether a slot can be taken now: in the future, within the horizon,
    /// and clear of every hold.
    fn open_for_booking(&self, slot: &Slot, now: DateTime<Utc>, busy: &[Interval]) -> bool {
        slot.start.with_timezone(&Utc) > now
            && slot.start.date_naive() <= self.last_date(now)
            && !busy.iter().any(|b| b.overlaps(&slot.held()))
    }

    /// The free slots of `date`, earliest first.
    pub fn free_on(&self, date: NaiveDate, now: DateTime<Utc>, busy: &[Interval]) -> Vec<Slot> {
        if date > self.last_date(now) {
            return Vec::new();
        }
        self.candidates(date)
            .into_iter()
            .filter(|s| self.open_for_booking(s, now, busy))
            .collect()
    }

    /// Up to `n` days after `after` (within the horizon) with a free slot
    /// inside `within`, with their first such slot.
    pub fn next_free_days(
        &self,
        after: NaiveDate,
        now: DateTime<Utc>,
        busy: &[Interval],
        within: Within,
        n: usize,
    ) -> Vec<(NaiveDate, Slot)> {
        let last = self.last_date(now);
        let mut out = Vec::new();
        let mut date = after.max(self.today(now) - Duration::days(1));
        while out.len() < n {
            date += Duration::days(1);
            if date > last {
                break;
            }
            if let Some(first) = self
                .free_on(date, now, busy)
                .into_iter()
                .find(|s| within.admits(s))
            {
                out.push((date, first));
            }
        }
        out
    }

    /// Up to `n` free slots near `around`: on its own day the nearest
    /// earlier and later ones, then the closest others; then the first free
    /// slots of the following days. Earliest first.
    pub fn nearest_free(
        &self,
        around: DateTime<Tz>,
        now: DateTime<Utc>,
        busy: &[Interval],
        n: usize,
    ) -> Vec<Slot> {
        let date = around.date_naive();
        let mut same_day = self.free_on(date, now, busy);
        // The closest one on each side first, so the caller hears both an
        // earlier and a later choice; then the closest of the rest.
        let before = same_day.iter().rposition(|s| s.start < around);
        let after = same_day.iter().position(|s| s.start > around);
        let mut out: Vec<Slot> = Vec::new();
        for i in [before, after].into_iter().flatten() {
            if out.len() < n {
                out.push(same_day[i]);
            }
        }
        same_day.retain(|s| !out.contains(s));
        same_day.sort_by_key(|s| (s.start - around).num_seconds().abs());
        out.extend(same_day.into_iter().take(n - out.len()));
        if out.len() < n {
            let more = self.next_free_days(date, now, busy, Within::default(), n - out.len());
            out.extend(more.into_iter().map(|(_, s)| s));
        }
        out.sort_by_key(|s| s.start);
        out
    }

    /// The slot starting at `start`, if it can be booked now.
    pub fn check(
        &self,
        start: DateTime<Tz>,
        now: DateTime<Utc>,
        busy: &[Interval],
    ) -> Result<Slot, Refusal> {
        if start.with_timezone(&Utc) <= now {
            return Err(Refusal::Past);
        }
        let local = start.naive_local();
        let date = local.date();
        let last = self.last_date(now);
        if date > last {
            return Err(Refusal::BeyondHorizon {
                last,
                days: self.horizon_days,
            });
        }
        let day = self.schedule.day(date);
        if day.spans.is_empty() {
            return Err(Refusal::Closed {
                date,
                holiday: day.holiday,
            });
        }
        let Some(span) = self.schedule.open_span(local) else {
            return Err(Refusal::OutsideHours {
                date,
                spans: day.spans,
            });
        };
        let step = self.step();
        let minute = local.time().num_seconds_from_midnight();
        if minute % (60 * step) != 0 || local.nanosecond() != 0 {
            return Err(Refusal::OffGrid { step });
        }
        let slot = self
            .candidates(date)
            .into_iter()
            .find(|s| s.start == start)
            .ok_or(Refusal::RunsPastClosing {
                minutes: self.duration.num_minutes(),
                close: span.close,
            })?;
        if busy.iter().any(|b| b.overlaps(&slot.held())) {
            return Err(Refusal::Taken);
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::business::Holiday;
    use chrono_tz::America::New_York;

    fn spans(list: &[&str]) -> Vec<Span> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// Harbor Dental's week: lunch break, short Friday, closed weekends,
    /// a closed and a shortened holiday.
    fn business() -> BusinessConfig {
        let mut b = BusinessConfig::sample();
        for day in [
            &mut b.hours.monday,
            &mut b.hours.tuesday,
            &mut b.hours.wednesday,
            &mut b.hours.thursday,
        ] {
            *day = spans(&["08:00-12:00", "13:00-17:00"]);
        }
        b.hours.friday = spans(&["08:00-14:00"]);
        b.holidays = vec![
            Holiday {
                date: NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                name: "Christmas Day".into(),
                hours: Vec::new(),
            },
            Holiday {
                date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                name: "Christmas Eve".into(),
                hours: spans(&["08:00-12:00"]),
            },
        ];
        b
    }

    fn rules(b: &BusinessConfig, duration: i64, buffer: i64, step: u32) -> SlotRules<'_> {
        SlotRules {
            schedule: Schedule::of_business(b),
            tz: New_York,
            duration: Duration::minutes(duration),
            buffer: Duration::minutes(buffer),
            step_minutes: step,
            horizon_days: 60,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
        New_York.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn walls(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.format("%H:%M").to_string())
            .collect()
    }

    fn utcs(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.with_timezone(&Utc).format("%H:%M").to_string())
            .collect()
    }

    /// Sunday 2026-11-22, long before every date used below.
    fn early() -> DateTime<Utc> {
        utc("2026-11-22T12:00:00Z")
    }

    #[test]
    fn the_lunch_break_splits_the_day_and_appointments_fit_inside_spans() {
        let b = business();
        let r = rules(&b, 60, 10, 15);
        let s = r.candidates(date(2026, 11, 23)); // Monday
        let w = walls(&s);
        assert_eq!(w.first().unwrap(), "08:00");
        assert!(w.contains(&"11:00".to_string()), "{w:?}");
        assert!(!w.contains(&"11:15".to_string()), "runs into lunch: {w:?}");
        assert!(!w.iter().any(|t| t.starts_with("12:")), "{w:?}");
        assert!(w.contains(&"13:00".to_string()));
        assert_eq!(w.last().unwrap(), "16:00");
        assert_eq!(s.len(), 13 + 13);
        assert_eq!(s[0].end, local(2026, 11, 23, 9, 0));
        assert_eq!(s[0].held_until, utc("2026-11-23T14:10:00Z"));
    }

    #[test]
    fn holidays_close_or_shorten_and_weekends_are_closed() {
        let b = business();
        let r = rules(&b, 60, 10, 15);
        assert!(r.candidates(date(2026, 12, 25)).is_empty());
        assert!(r.candidates(date(2026, 11, 28)).is_empty(), "Saturday");
        let eve = walls(&r.candidates(date(2026, 12, 24)));
        assert_eq!(
            (eve[0].as_str(), eve.last().unwrap().as_str()),
            ("08:00", "11:00")
        );
        let friday = walls(&r.candidates(date(2026, 11, 27)));
        assert_eq!(friday.last().unwrap(), "13:00");
        assert_eq!(
            r.check(local(2026, 12, 25, 10, 0), early(), &[]),
            Err(Refusal::Closed {
                date: date(2026, 12, 25),
                holiday: Some("Christmas Day".into())
            })
        );
        assert!(matches!(
            r.check(local(2026, 12, 24, 14, 0), early(), &[]),
            Err(Refusal::OutsideHours { .. })
        ));
    }

    #[test]
    fn holds_block_their_time_plus_buffer() {
        let b = business();
        // A 30-minute checkup with a 10-minute buffer, in 5-minute steps.
        let r = rules(&b, 30, 10, 5);
        // An existing cleaning 14:00-15:00 holds until 15:10.
        let busy = [Interval::new(
            local(2026, 11, 23, 14, 0).with_timezone(&Utc),
            local(2026, 11, 23, 15, 10).with_timezone(&Utc),
        )];
        let free = walls(&r.free_on(date(2026, 11, 23), early(), &busy));
        let has = |t: &str| free.contains(&t.to_string());
        // The new appointment's own buffer must end by 14:00 too.
        assert!(has("13:20"), "{free:?}");
        assert!(!has("13:25"), "its buffer would run into 14:00");
        assert!(!has("15:05"), "inside the old buffer");
        assert!(has("15:10"));
        assert_eq!(
            r.check(local(2026, 11, 23, 15, 5), early(), &busy),
            Err(Refusal::Taken)
        );
        assert_eq!(
            r.check(local(2026, 11, 23, 13, 25), early(), &busy),
            Err(Refusal::Taken)
        );
        assert!(r.check(local(2026, 11, 23, 15, 10), early(), &busy).is_ok());
        assert!(r.check(local(2026, 11, 23, 13, 20), early(), &busy).is_ok());
    }

    #[test]
    fn spring_forward_skips_the_missing_hour() {
        let mut b = business();
        b.hours.sunday = spans(&["01:00-04:00", "09:00-12:00"]);
        let r = rules(&b, 30, 0, 30);
        let s = r.candidates(date(2026, 3, 8));
        assert_eq!(
            walls(&s)[..4],
            ["01:00", "01:30", "03:00", "03:30"],
            "02:00 and 02:30 do not exist"
        );
        assert_eq!(utcs(&s)[..4], ["06:00", "06:30", "07:00", "07:30"]);
        // Morning slots that day are already on daylight time (UTC-4)...
        assert_eq!(s[4].start.with_timezone(&Utc), utc("2026-03-08T13:00:00Z"));
        // ...while the Sunday before they were on standard time (UTC-5).
        let before = r.candidates(date(2026, 3, 1));
        assert_eq!(
            before.len(),
            6 + 6,
            "a normal Sunday has all six night slots"
        );
        assert_eq!(
            before[6].start.with_timezone(&Utc),
            utc("2026-03-01T14:00:00Z")
        );
        // A one-hour appointment from 01:30 ends at 03:30 on the wall clock.
        let r = rules(&b, 60, 0, 30);
        let s = r.candidates(date(2026, 3, 8));
        assert_eq!(walls(&s)[..3], ["01:00", "01:30", "03:00"]);
        assert_eq!(s[1].end, local(2026, 3, 8, 3, 30));
    }

    #[test]
    fn fall_back_offers_the_repeated_hour_twice() {
        let mut b = business();
        b.hours.sunday = spans(&["00:00-03:00", "09:00-12:00"]);
        let r = rules(&b, 30, 0, 30);
        let s = r.candidates(date(2026, 11, 1));
        assert_eq!(
            walls(&s)[..8],
            ["00:00", "00:30", "01:00", "01:30", "01:00", "01:30", "02:00", "02:30"]
        );
        assert_eq!(
            utcs(&s)[..8],
            ["04:00", "04:30", "05:00", "05:30", "06:00", "06:30", "07:00", "07:30"]
        );
        assert_eq!(s[8].start.with_timezone(&Utc), utc("2026-11-01T14:00:00Z"));
        // A hold on the first 01:00 leaves the second one free.
        let busy = [s[2].held()];
        let free = r.free_on(date(2026, 11, 1), utc("2026-10-30T12:00:00Z"), &busy);
        assert_eq!(utcs(&free)[..4], ["04:00", "04:30", "05:30", "06:00"]);
    }

    #[test]
    fn past_times_are_never_offered() {
        let b = business();
        let r = rules(&b, 30, 0, 15);
        let now = local(2026, 11, 23, 10, 5).with_timezone(&Utc);
        let free = walls(&r.free_on(date(2026, 11, 23), now, &[]));
        assert_eq!(free[0], "10:15");
        let now = local(2026, 11, 23, 10, 15).with_timezone(&Utc);
        assert_eq!(walls(&r.free_on(date(2026, 11, 23), now, &[]))[0], "10:30");
        assert_eq!(
            r.check(local(2026, 11, 23, 10, 15), now, &[]),
            Err(Refusal::Past)
        );
        assert_eq!(
            r.check(local(2026, 11, 20, 10, 0), now, &[]),
            Err(Refusal::Past)
        );
        assert!(r.free_on(date(2026, 11, 20), now, &[]).is_empty());
    }

    #[test]
    fn the_horizon_ends_bookings() {
        let b = business();
        let mut r = rules(&b, 30, 0, 15);
        r.horizon_days = 7;
        let now = early(); // Sunday 22nd
        assert_eq!(r.last_date(now), date(2026, 11, 29));
        assert!(!r.free_on(date(2026, 11, 27), now, &[]).is_empty());
        assert!(r.free_on(date(2026, 11, 30), now, &[]).is_empty());
        assert_eq!(
            r.check(local(2026, 11, 30, 10, 0), now, &[]),
            Err(Refusal::BeyondHorizon {
                last: date(2026, 11, 29),
                days: 7
            })
        );
        let days = r.next_free_days(date(2026, 11, 26), now, &[], Within::default(), 5);
        let dates: Vec<_> = days.iter().map(|(d, _)| *d).collect();
        assert_eq!(
            dates,
            [date(2026, 11, 27)],
            "the weekend is closed, then the horizon"
        );
    }

    #[test]
    fn granularity_aligns_starts_to_the_local_day() {
        let mut b = business();
        b.hours.monday = spans(&["08:10-09:00"]);
        let r = rules(&b, 20, 0, 20);
        assert_eq!(walls(&r.candidates(date(2026, 11, 23))), ["08:20", "08:40"]);
        assert_eq!(
            r.check(local(2026, 11, 23, 8, 30), early(), &[]),
            Err(Refusal::OffGrid { step: 20 })
        );
        assert_eq!(
            r.check(local(2026, 11, 23, 7, 0), early(), &[]),
            Err(Refusal::OutsideHours {
                date: date(2026, 11, 23),
                spans: spans(&["08:10-09:00"])
            })
        );
        let r = rules(&b, 30, 0, 20);
        assert_eq!(
            r.check(local(2026, 11, 23, 8, 40), early(), &[]),
            Err(Refusal::RunsPastClosing {
                minutes: 30,
                close: NaiveTime::from_hms_opt(9, 0, 0).unwrap()
            })
        );
    }

    #[test]
    fn time_windows_and_nearest_alternatives() {
        let b = business();
        let r = rules(&b, 60, 10, 15);
        let monday = date(2026, 11, 23);
        let afternoon = Within {
            after: NaiveTime::from_hms_opt(13, 0, 0),
            before: NaiveTime::from_hms_opt(15, 0, 0),
        };
        let w: Vec<_> = r
            .free_on(monday, early(), &[])
            .into_iter()
            .filter(|s| afternoon.admits(s))
            .collect();
        assert_eq!(walls(&w).first().unwrap(), "13:00");
        assert_eq!(walls(&w).last().unwrap(), "14:45");
        // 10:00 taken (held to 11:10): nearest are 08:45 before, 13:00 after.
        let busy = [Interval::new(
            local(2026, 11, 23, 10, 0).with_timezone(&Utc),
            local(2026, 11, 23, 11, 10).with_timezone(&Utc),
        )];
        let near = r.nearest_free(local(2026, 11, 23, 10, 0), early(), &busy, 2);
        assert_eq!(walls(&near), ["08:45", "13:00"]);
        // A full day sends the alternatives to the next days.
        let all_day = [Interval::new(
            local(2026, 11, 27, 0, 0).with_timezone(&Utc),
            local(2026, 11, 28, 0, 0).with_timezone(&Utc),
        )];
        let near = r.nearest_free(local(2026, 11, 27, 10, 0), early(), &all_day, 2);
        let days: Vec<_> = near.iter().map(|s| s.start.date_naive()).collect();
        assert_eq!(days, [date(2026, 11, 30), date(2026, 12, 1)]);
    }

    #[test]
    fn service_rules_come_from_config() {
        let b = business();
        let bookings = BookingsConfig::default();
        let svc = Service {
            name: "Cleaning".into(),
            duration_min: 60,
            buffer_min: 10,
        };
        let r = SlotRules::for_service(&b, &svc, &bookings).unwrap();
        assert_eq!(r.duration, Duration::minutes(60));
        assert_eq!(r.buffer, Duration::minutes(10));
        assert_eq!(r.step_minutes, bookings.slot_minutes);
        let none = Service {
            duration_min: 0,
            ..svc
        };
        assert!(SlotRules::for_service(&b, &none, &bookings).is_err());
    }
}
