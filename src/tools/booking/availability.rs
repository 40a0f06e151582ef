//! `check_availability`: free times for a service on a day (or the earliest
//! day with any), optionally within a time-of-day window, and the next free
//! days when that day is closed or full.

use chrono::{Duration, NaiveDate, Timelike};
use serde_json::{json, Value};

use super::{
    busy_between, find_service, req_str, rules, services_enum, slot_json, CalendarSource,
    NEXT_DAYS, OFFERED_SLOTS, SEARCH_DAYS,
};
use crate::calendar::local::{parse_date, parse_hhmm, spoken_day};
use crate::calendar::slots::{Slot, Within};
use crate::config::business::BusinessConfigError;
use crate::config::business::Span;
use crate::config::Config;
use crate::tools::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

pub struct CheckAvailability {
    calendar: CalendarSource,
    services: Vec<String>,
}

impl CheckAvailability {
    pub fn new(config: &Config) -> Result<Self, BusinessConfigError> {
        Self::with_calendar(config, super::builtin_calendar())
    }

    pub fn with_calendar(
        config: &Config,
        calendar: CalendarSource,
    ) -> Result<Self, BusinessConfigError> {
        config.business.timezone()?;
        Ok(CheckAvailability {
            calendar,
            services: services_enum(config),
        })
    }
}

/// Up to `n` slots spread over the day: the first free start of each hour,
/// then the rest in order, so the caller hears a real choice.
fn spread(slots: &[Slot], n: usize) -> Vec<Slot> {
    let mut picked: Vec<Slot> = Vec::new();
    for s in slots {
        if picked.len() < n && !picked.iter().any(|p| p.start.hour() == s.start.hour()) {
            picked.push(*s);
        }
    }
    for s in slots {
        if picked.len() >= n {
            break;
        }
        if !picked.contains(s) {
            picked.push(*s);
        }
    }
    picked.sort_by_key(|s| s.start);
    picked
}

fn time_arg(args: &Value, key: &str) -> Result<Option<chrono::NaiveTime>, ToolError> {
    match opt_str(args, key)? {
        None => Ok(None),
        Some(s) => parse_hhmm(s).map(Some).ok_or_else(|| {
            ToolError::InvalidArguments(format!("{key}={s:?}: use 24-hour HH:MM, like 14:30"))
        }),
    }
}

async fn answer(
    calendar: CalendarSource,
    args: Value,
    ctx: ToolContext,
) -> Result<Value, ToolError> {
    let config = ctx.config.clone();
    let service = find_service(&config, req_str(&args, "service")?)?;
    let rules = rules(&config, service)?;
    let within = Within {
        after: time_arg(&args, "after")?,
        before: time_arg(&args, "before")?,
    };
    if let (Some(a), Some(b)) = (within.after, within.before) {
        if a >= b {
            return Err(ToolError::InvalidArguments(format!(
                "after ({}) must be earlier than before ({})",
                a.format("%H:%M"),
                b.format("%H:%M")
            )));
        }
    }
    let today = rules.today(ctx.now);
    let last = rules.last_date(ctx.now);
    let asked = match opt_str(&args, "date")? {
        None => None,
        Some(s) => {
            let d = parse_date(s).ok_or_else(|| {
                ToolError::InvalidArguments(format!("date={s:?}: use YYYY-MM-DD"))
            })?;
            if d < today {
                return Err(ToolError::InvalidArguments(format!(
                    "{d} is in the past (today is {today})"
                )));
            }
            if d > last {
                return Err(ToolError::InvalidArguments(format!(
                    "bookings are only taken up to {last} ({} days ahead)",
                    rules.horizon_days
                )));
            }
            Some(d)
        }
    };
    let from = asked.unwrap_or(today);
    let to = match asked {
        Some(d) => (d + Duration::days(SEARCH_DAYS)).min(last),
        None => last,
    };
    let calendar = calendar(&ctx);
    let busy = busy_between(calendar.as_ref(), &rules, from, to).await?;
    let free_in = |date: NaiveDate| -> Vec<Slot> {
        rules
            .free_on(date, ctx.now, &busy)
            .into_iter()
            .filter(|s| within.admits(s))
            .collect()
    };
    // Without a date: the earliest day with a free slot.
    let date = asked.unwrap_or_else(|| {
        let mut d = today;
        while d < last && free_in(d).is_empty() {
            d += Duration::days(1);
        }
        d
    });
    let day = rules.schedule.day(date);
    let free = free_in(date);
    let mut out = json!({
        "service": service.name,
        "duration_minutes": service.duration_min,
        "timezone": config.business.business.timezone,
        "date": date.to_string(),
        "day": spoken_day(date),
        "hours": day.spans.iter().map(Span::to_string).collect::<Vec<_>>(),
        "holiday": day.holiday,
        "slots": spread(&free, OFFERED_SLOTS).iter().map(slot_json).collect::<Vec<_>>(),
        "free_slots_that_day": free.len(),
    });
    if free.is_empty() {
        let why = if day.spans.is_empty() {
            "closed"
        } else if rules.free_on(date, ctx.now, &[]).is_empty() {
            "no time left that day"
        } else {
            "fully booked"
        };
        let window = if within.after.is_some() || within.before.is_some() {
            " in that time window"
        } else {
            ""
        };
        let next: Vec<Value> = rules
            .next_free_days(date, ctx.now, &busy, within, NEXT_DAYS)
            .iter()
            .map(|(d, first)| json!({ "date": d.to_string(), "day": spoken_day(*d), "first_free": slot_json(first) }))
            .collect();
        out["note"] = json!(if next.is_empty() {
            format!(
                "Nothing free{window} on {} ({why}), nor later within the next {} days; offer to take a message.",
                spoken_day(date),
                (to - date).num_days()
            )
        } else {
            format!(
                "Nothing free{window} on {} ({why}); offer the next free days.",
                spoken_day(date)
            )
        });
        out["next_free_days"] = json!(next);
    }
    Ok(out)
}

impl Tool for CheckAvailability {
    fn name(&self) -> &'static str {
        "check_availability"
    }

    fn description(&self) -> &'static str {
        "Free appointment times for a service, on a date (or the earliest day with any), \
         optionally after and/or before a time of day. Resolve spoken dates (\"next Tuesday \
         afternoon\") into a YYYY-MM-DD date and HH:MM times in the business's timezone first. \
         Only offer times this tool returns; never invent availability. Read times to the \
         caller using the `spoken` form."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "service": {
                    "type": "string",
                    "description": "The service to book",
                    "enum": self.services
                },
                "date": {
                    "type": "string",
                    "description": "Local date YYYY-MM-DD; omit for the earliest free day"
                },
                "after": {
                    "type": "string",
                    "description": "Earliest start time, local 24-hour HH:MM (e.g. 13:00 for \"afternoon\")"
                },
                "before": {
                    "type": "string",
                    "description": "Start before this local 24-hour HH:MM time"
                }
            },
            "required": ["service"],
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        let calendar = self.calendar.clone();
        Box::pin(async move { answer(calendar, args, ctx).await.map(ToolOutput::data) })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ctx_at, run, utc};
    use super::*;
    use crate::calendar::{BuiltinCalendar, Calendar};
    use chrono::Utc;

    fn tool(ctx: &ToolContext) -> CheckAvailability {
        CheckAvailability::new(&ctx.config).unwrap()
    }

    /// Monday 2026-11-23, 07:00 in New York.
    fn monday_early() -> chrono::DateTime<Utc> {
        utc("2026-11-23T12:00:00Z")
    }

    #[tokio::test]
    async fn offers_spread_slots_with_spoken_times() {
        let ctx = ctx_at(monday_early()).await;
        let a = run(
            &tool(&ctx),
            json!({"service": "cleaning", "date": "2026-11-23"}),
            &ctx,
        )
        .await
        .unwrap();
        assert_eq!(a["service"], "Cleaning");
        assert_eq!(a["hours"], json!(["08:00-12:00", "13:00-17:00"]));
        let slots = a["slots"].as_array().unwrap();
        assert_eq!(slots.len(), OFFERED_SLOTS);
        assert_eq!(slots[0]["start"], "2026-11-23T08:00:00-05:00");
        assert_eq!(slots[0]["spoken"], "Monday 23 November at 8 am");
        assert_eq!(slots[1]["spoken"], "Monday 23 November at 9 am");
        assert_eq!(a["free_slots_that_day"], 26);
        assert!(a.get("next_free_days").is_none());
    }

    #[tokio::test]
    async fn time_window_and_earliest_day() {
        let ctx = ctx_at(monday_early()).await;
        let a = run(
            &tool(&ctx),
            json!({"service": "Checkup", "date": "2026-11-24", "after": "13:00", "before": "15:00"}),
            &ctx,
        )
        .await
        .unwrap();
        let starts: Vec<&str> = a["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap())
            .collect();
        assert_eq!(starts[0], "2026-11-24T13:00:00-05:00");
        assert!(starts.iter().all(|s| *s < "2026-11-24T15:00"), "{starts:?}");
        // Saturday 28th, no date: the earliest free day is Monday 30th.
        let ctx = ctx_at(utc("2026-11-28T15:00:00Z")).await;
        let a = run(&tool(&ctx), json!({"service": "Checkup"}), &ctx)
            .await
            .unwrap();
        assert_eq!(a["date"], "2026-11-30", "{a}");
    }

    #[tokio::test]
    async fn closed_or_full_days_point_to_the_next_free_days() {
        let ctx = ctx_at(utc("2026-12-20T15:00:00Z")).await;
        let a = run(
            &tool(&ctx),
            json!({"service": "Cleaning", "date": "2026-12-25"}),
            &ctx,
        )
        .await
        .unwrap();
        assert_eq!(a["holiday"], "Christmas Day");
        assert!(a["slots"].as_array().unwrap().is_empty());
        assert!(a["note"].as_str().unwrap().contains("closed"), "{a}");
        let next: Vec<&str> = a["next_free_days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["date"].as_str().unwrap())
            .collect();
        assert_eq!(next, ["2026-12-28", "2026-12-29", "2026-12-30"]);
        // Fill Friday 2026-12-18 entirely, then ask for it.
        let ctx = ctx_at(utc("2026-12-14T15:00:00Z")).await;
        let cal = BuiltinCalendar::new(ctx.store.clone(), "+15551230000");
        cal.book(crate::calendar::BookingRequest {
            service: "Cleaning".into(),
            start: utc("2026-12-18T13:00:00Z"),
            end: utc("2026-12-18T19:00:00Z"),
            name: "Block".into(),
            phone: "+15550001111".into(),
            purpose: String::new(),
        })
        .await
        .unwrap();
        let a = run(
            &tool(&ctx),
            json!({"service": "Checkup", "date": "2026-12-18"}),
            &ctx,
        )
        .await
        .unwrap();
        assert!(a["note"].as_str().unwrap().contains("fully booked"), "{a}");
        assert_eq!(a["next_free_days"][0]["date"], "2026-12-21");
        assert_eq!(
            a["next_free_days"][0]["first_free"]["spoken"],
            "Monday 21 December at 8 am"
        );
    }

    #[tokio::test]
    async fn bad_arguments_are_typed_errors() {
        let ctx = ctx_at(monday_early()).await;
        let t = tool(&ctx);
        for (args, needle) in [
            (json!({"service": "Cleaning", "date": "2026-11-20"}), "past"),
            (
                json!({"service": "Cleaning", "date": "2027-06-01"}),
                "only taken up to",
            ),
            (
                json!({"service": "Cleaning", "date": "23/11/2026"}),
                "YYYY-MM-DD",
            ),
            (json!({"service": "Cleaning", "after": "2pm"}), "HH:MM"),
            (
                json!({"service": "Cleaning", "after": "15:00", "before": "13:00"}),
                "earlier",
            ),
            (json!({"date": "2026-11-23"}), "service is required"),
        ] {
            match run(&t, args.clone(), &ctx).await {
                Err(ToolError::InvalidArguments(m)) => assert!(m.contains(needle), "{args}: {m}"),
                other => panic!("{args}: {other:?}"),
            }
        }
        assert!(matches!(
            run(&t, json!({"service": "Tattoo"}), &ctx).await,
            Err(ToolError::NotFound(m)) if m.contains("Cleaning, Checkup")
        ));
    }

    #[test]
    fn schema_lists_the_services() {
        let c = Config::default();
        let p = CheckAvailability::new(&c).unwrap().parameters();
        assert_eq!(p["properties"]["service"]["enum"], json!(["Cleaning"]));
        assert_eq!(p["required"], json!(["service"]));
    }
}
