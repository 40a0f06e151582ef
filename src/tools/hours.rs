//! `get_business_hours`: opening hours for now, today, tomorrow, a weekday or
//! a date — in the business's own timezone, with holidays and special hours.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::business::hours::{weekday_name, Schedule, WEEK};
use crate::config::business::BusinessConfigError;
use crate::config::business::Span;
use crate::config::BusinessConfig;

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim_start_matches("next ").trim_start_matches("this ");
    WEEK.iter().copied().find(|&d| {
        let name = weekday_name(d).to_ascii_lowercase();
        s == name || (s.len() >= 3 && name.starts_with(s))
    })
}

/// The date a `when` argument names, relative to the local `today`.
pub fn resolve_day(when: &str, today: NaiveDate) -> Result<NaiveDate, ToolError> {
    let w = when.trim().to_ascii_lowercase();
    match w.as_str() {
        "" | "now" | "today" => return Ok(today),
        "tomorrow" => return Ok(today + Duration::days(1)),
        _ => {}
    }
    if let Some(day) = parse_weekday(&w) {
        let ahead = (day.num_days_from_monday() as i64
            - today.weekday().num_days_from_monday() as i64)
            .rem_euclid(7);
        return Ok(today + Duration::days(ahead));
    }
    let date = NaiveDate::parse_from_str(&w, "%Y-%m-%d").map_err(|_| {
        ToolError::InvalidArguments(format!(
            "when={when:?}: use \"now\", \"today\", \"tomorrow\", a weekday, or a date as YYYY-MM-DD"
        ))
    })?;
    if date < today {
        return Err(ToolError::InvalidArguments(format!(
            "{date} is in the past (today is {today})"
        )));
    }
    if date > today + Duration::days(366) {
        return Err(ToolError::InvalidArguments(format!(
            "{date} is more than a year away"
        )));
    }
    Ok(date)
}

pub struct BusinessHours {
    business: BusinessConfig,
    tz: Tz,
}

impl BusinessHours {
    pub fn new(business: BusinessConfig) -> Result<Self, BusinessConfigError> {
        let tz = business.timezone()?;
        Ok(BusinessHours { business, tz })
    }

    /// The tool's answer, at a given instant (tests pass a fixed clock).
    pub fn answer(
        &self,
        args: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Value, ToolError> {
        let when = opt_str(args, "when")?.unwrap_or("now");
        let department = opt_str(args, "department")?;
        let schedule = match department {
            None => Schedule::of_business(&self.business),
            Some(name) => Schedule::of_department(&self.business, name).ok_or_else(|| {
                let known: Vec<&str> = self
                    .business
                    .departments
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect();
                ToolError::NotFound(format!(
                    "no department {name:?}; departments: {}",
                    known.join(", ")
                ))
            })?,
        };
        let local = self.tz.from_utc_datetime(&now.naive_utc()).naive_local();
        let date = resolve_day(when, local.date())?;
        let day = schedule.day(date);
        let mut out = json!({
            "business": self.business.business.name,
            "department": department,
            "timezone": self.business.business.timezone,
            "local_time_now": local.format("%A %Y-%m-%d %H:%M").to_string(),
            "date": date.to_string(),
            "weekday": weekday_name(date.weekday()),
            "closed_all_day": day.spans.is_empty(),
            "hours": day.spans.iter().map(Span::to_string).collect::<Vec<_>>(),
            "holiday": day.holiday,
        });
        if when.trim().eq_ignore_ascii_case("now") || when.trim().is_empty() {
            let open = schedule.open_span(local);
            out["open_now"] = json!(open.is_some());
            out["closes_at"] = json!(open.map(|s| s.close.format("%H:%M").to_string()));
        }
        let from = if date == local.date() {
            local
        } else {
            date.and_hms_opt(0, 0, 0).unwrap_or(local)
        };
        out["next_opening"] = json!(schedule
            .next_opening(from)
            .map(|t| t.format("%A %Y-%m-%d %H:%M").to_string()));
        Ok(out)
    }
}

impl Tool for BusinessHours {
    fn name(&self) -> &'static str {
        "get_business_hours"
    }

    fn description(&self) -> &'static str {
        "Opening hours of the business (or one department) for now, today, tomorrow, a weekday, \
         or a date. Says whether it is open right now, holiday closures, and the next opening. \
         Use it for every question about hours; never guess."
    }

    fn parameters(&self) -> Value {
        let departments: Vec<&str> = self
            .business
            .departments
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        json!({
            "type": "object",
            "properties": {
                "when": {
                    "type": "string",
                    "description": "\"now\", \"today\", \"tomorrow\", a weekday like \"friday\", or a date YYYY-MM-DD"
                },
                "department": {
                    "type": "string",
                    "description": "Optional department name",
                    "enum": departments
                }
            },
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        let result = self.answer(&args, ctx.now).map(ToolOutput::data);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSources};
    use chrono::Utc;

    fn tool() -> BusinessHours {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let c = Config::load_with_env(&ConfigSources::in_dir(&dir), &[]).unwrap();
        BusinessHours::new(c.business).unwrap()
    }

    fn utc(s: &str) -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn open_now_is_judged_in_the_business_timezone() {
        // 14:30 UTC on Monday 2026-11-23 is 09:30 in New York (EST, UTC-5).
        let a = tool()
            .answer(&json!({"when": "now"}), utc("2026-11-23T14:30:00Z"))
            .unwrap();
        assert_eq!(a["open_now"], true, "{a}");
        assert_eq!(a["closes_at"], "12:00");
        // 12:30 New York: lunch break.
        let a = tool()
            .answer(&json!({}), utc("2026-11-23T17:30:00Z"))
            .unwrap();
        assert_eq!(a["open_now"], false, "{a}");
        assert_eq!(a["next_opening"], "Monday 2026-11-23 13:00");
        // 02:00 UTC Tuesday is still Monday evening in New York.
        let a = tool()
            .answer(&json!({"when": "today"}), utc("2026-11-24T02:00:00Z"))
            .unwrap();
        assert_eq!(a["weekday"], "Monday", "{a}");
    }

    #[test]
    fn dst_changes_shift_the_utc_offset() {
        // Summer (EDT, UTC-4): 12:30 UTC is 08:30 local, open.
        let a = tool()
            .answer(&json!({}), utc("2026-07-06T12:30:00Z"))
            .unwrap();
        assert_eq!(a["open_now"], true, "{a}");
        // Winter (EST, UTC-5): 12:30 UTC is 07:30 local, not yet open.
        let a = tool()
            .answer(&json!({}), utc("2026-11-23T12:30:00Z"))
            .unwrap();
        assert_eq!(a["open_now"], false, "{a}");
        // The Monday after the spring-forward Sunday (2026-03-08).
        let a = tool()
            .answer(&json!({}), utc("2026-03-09T12:30:00Z"))
            .unwrap();
        assert_eq!(a["open_now"], true, "{a}");
    }

    #[test]
    fn holidays_close_or_shorten_the_day() {
        let now = utc("2026-12-20T15:00:00Z");
        let a = tool().answer(&json!({"when": "2026-12-25"}), now).unwrap();
        assert_eq!(a["closed_all_day"], true);
        assert_eq!(a["holiday"], "Christmas Day");
        assert_eq!(a["next_opening"], "Monday 2026-12-28 08:00");
        let a = tool().answer(&json!({"when": "2026-12-24"}), now).unwrap();
        assert_eq!(a["hours"], json!(["08:00-12:00"]));
    }

    #[test]
    fn weekdays_tomorrow_and_departments() {
        let now = utc("2026-11-23T15:00:00Z"); // Monday
        let a = tool().answer(&json!({"when": "friday"}), now).unwrap();
        assert_eq!(a["date"], "2026-11-27");
        assert_eq!(a["hours"], json!(["08:00-14:00"]));
        let a = tool().answer(&json!({"when": "Monday"}), now).unwrap();
        assert_eq!(a["date"], "2026-11-23");
        let a = tool().answer(&json!({"when": "tomorrow"}), now).unwrap();
        assert_eq!(a["weekday"], "Tuesday");
        let a = tool()
            .answer(&json!({"when": "tuesday", "department": "billing"}), now)
            .unwrap();
        assert_eq!(a["closed_all_day"], true);
        let a = tool().answer(&json!({"when": "saturday"}), now).unwrap();
        assert_eq!(a["next_opening"], "Monday 2026-11-30 08:00");
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let now = utc("2026-11-23T15:00:00Z");
        let t = tool();
        assert!(matches!(
            t.answer(&json!({"when": "2026-01-01"}), now),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            t.answer(&json!({"when": "someday"}), now),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            t.answer(&json!({"when": 3}), now),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            t.answer(&json!({"department": "Kitchen"}), now),
            Err(ToolError::NotFound(_))
        ));
    }

    #[test]
    fn summary_lists_the_week() {
        let t = tool();
        let s = Schedule::of_business(&t.business).weekly_summary();
        assert!(s.starts_with("Monday: 08:00-12:00, 13:00-17:00"), "{s}");
        assert!(s.ends_with("Sunday: closed"), "{s}");
    }
}
