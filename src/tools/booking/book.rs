//! `book_appointment`: validates everything first (service, start time
//! against the business's hours, timezone, slot grid, horizon and clock,
//! name, phone), then books atomically; a slot taken meanwhile comes back as
//! `slot_taken` with the nearest alternatives. The caller gets a confirmation
//! text through the outbox.

use serde_json::{json, Value};

use super::{
    bounded, busy_between, calendar_failure, caller_phone, confirm, find_service, normalize_phone,
    refusal, req_str, rules, services_enum, slot_taken, start_arg, tz_of, CalendarSource, MAX_NAME,
    MAX_PURPOSE,
};
use crate::calendar::local::{iso, spoken};
use crate::calendar::slots::Refusal;
use crate::calendar::{BookingRequest, CalendarError};
use crate::config::business::BusinessConfigError;
use crate::config::Config;
use crate::notify::NotifyEvent;
use crate::tools::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

pub struct BookAppointment {
    calendar: CalendarSource,
    services: Vec<String>,
}

impl BookAppointment {
    pub fn new(config: &Config) -> Result<Self, BusinessConfigError> {
        Self::with_calendar(config, super::builtin_calendar())
    }

    pub fn with_calendar(
        config: &Config,
        calendar: CalendarSource,
    ) -> Result<Self, BusinessConfigError> {
        config.business.timezone()?;
        Ok(BookAppointment {
            calendar,
            services: services_enum(config),
        })
    }
}

async fn answer(
    calendar: CalendarSource,
    args: Value,
    ctx: ToolContext,
) -> Result<Value, ToolError> {
    let config = ctx.config.clone();
    let tz = tz_of(&config)?;
    let service = find_service(&config, req_str(&args, "service")?)?;
    let rules = rules(&config, service)?;
    let start = start_arg(&args, "start", tz)?;
    let name = bounded(req_str(&args, "name")?, "name", MAX_NAME)?.to_string();
    let phone = match opt_str(&args, "phone")?
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => normalize_phone(p, &config.business.business.phone)?,
        None => caller_phone(&ctx)?,
    };
    let purpose = bounded(
        opt_str(&args, "purpose")?.map(str::trim).unwrap_or(""),
        "purpose",
        MAX_PURPOSE,
    )?;
    // Stored redacted ("insurance 123-45-6789"): the calendar is not the
    // place for identifiers.
    let purpose = crate::privacy::redactor(&ctx.config)
        .text(purpose, crate::privacy::Topic::of(purpose))
        .into_owned();

    let calendar = calendar(&ctx);
    let date = start.date_naive();
    let busy = busy_between(calendar.as_ref(), &rules, date, date).await?;
    let slot = match rules.check(start, ctx.now, &busy) {
        Ok(slot) => slot,
        Err(Refusal::Taken) => {
            return slot_taken(calendar.as_ref(), &rules, start, ctx.now, None, false).await
        }
        Err(r) => return Err(refusal(r)),
    };
    let request = BookingRequest {
        service: service.name.clone(),
        start: slot.start.with_timezone(&chrono::Utc),
        end: slot.held_until,
        name,
        phone,
        purpose,
    };
    let booking = match calendar.book(request).await {
        Ok(b) => b,
        Err(CalendarError::Conflict(_)) => {
            return slot_taken(calendar.as_ref(), &rules, start, ctx.now, None, true).await
        }
        Err(e) => return Err(calendar_failure(e)),
    };
    let when = spoken(&slot.start);
    let sms = confirm(
        &ctx,
        NotifyEvent::AppointmentBooked {
            to: booking.phone.clone(),
            name: booking.name.clone(),
            service: booking.service.clone(),
            when: when.clone(),
        },
        &format!("appointment:{}:booked", booking.id),
    )
    .await;
    Ok(json!({
        "booked": true,
        "appointment_id": booking.id,
        "service": booking.service,
        "start": iso(&slot.start),
        "end": iso(&slot.end),
        "spoken": when,
        "name": booking.name,
        "phone": booking.phone,
        "purpose": booking.purpose,
        "sms_confirmation": sms,
    }))
}

impl Tool for BookAppointment {
    fn name(&self) -> &'static str {
        "book_appointment"
    }

    fn description(&self) -> &'static str {
        "Books an appointment. Before calling it, read the service, day and time (spoken form), \
         name and phone number back to the caller and get their yes. Use a start time from \
         check_availability, as local time in the business's timezone. If the answer is \
         slot_taken, tell the caller and offer the alternatives it lists. After booking, confirm \
         the time and say whether a confirmation text is on its way (sms_confirmation)."
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
                "start": {
                    "type": "string",
                    "description": "Start, ISO 8601 local time like 2026-11-24T14:30 (or with the business's UTC offset)"
                },
                "name": { "type": "string", "description": "The caller's full name" },
                "phone": {
                    "type": "string",
                    "description": "Phone number for the booking with country code; omit to use the caller's number"
                },
                "purpose": { "type": "string", "description": "Short reason for the visit, if given" }
            },
            "required": ["service", "start", "name"],
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

    /// Sunday 2026-11-22, 10:00 in New York.
    fn sunday() -> chrono::DateTime<chrono::Utc> {
        utc("2026-11-22T15:00:00Z")
    }

    fn args(start: &str) -> Value {
        json!({"service": "Cleaning", "start": start, "name": "Dana Whitfield", "purpose": "six-month cleaning"})
    }

    async fn held(ctx: &ToolContext) -> Vec<crate::calendar::Interval> {
        BuiltinCalendar::new(ctx.store.clone(), "+15551230000")
            .busy(utc("2026-11-01T00:00:00Z"), utc("2027-02-01T00:00:00Z"))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn books_in_local_time_and_queues_a_confirmation() {
        let ctx = ctx_at(sunday()).await;
        let t = BookAppointment::new(&ctx.config).unwrap();
        let out = run(&t, args("2026-11-23T10:00"), &ctx).await.unwrap();
        assert_eq!(out["booked"], true, "{out}");
        assert_eq!(out["start"], "2026-11-23T10:00:00-05:00");
        assert_eq!(out["end"], "2026-11-23T11:00:00-05:00");
        assert_eq!(out["spoken"], "Monday 23 November at 10 am");
        assert_eq!(out["phone"], "+15005550006", "defaults to the caller");
        assert_eq!(out["sms_confirmation"], "queued");
        // The hold includes the 10-minute buffer.
        assert_eq!(
            held(&ctx).await,
            vec![crate::calendar::Interval::new(
                utc("2026-11-23T15:00:00Z"),
                utc("2026-11-23T16:10:00Z")
            )]
        );
        // The same slot again: taken, with alternatives around it.
        let again = run(&t, args("2026-11-23T10:00:00-05:00"), &ctx)
            .await
            .unwrap();
        assert_eq!(again["error"], "slot_taken", "{again}");
        let alts: Vec<&str> = again["alternatives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["start"].as_str().unwrap())
            .collect();
        assert_eq!(
            alts,
            [
                "2026-11-23T08:30:00-05:00",
                "2026-11-23T08:45:00-05:00",
                "2026-11-23T13:00:00-05:00"
            ]
        );
        assert_eq!(held(&ctx).await.len(), 1);
    }

    #[tokio::test]
    async fn sms_confirmation_can_be_off_and_phone_can_be_given() {
        let mut ctx = ctx_at(sunday()).await;
        let mut config = (*ctx.config).clone();
        config.bookings.sms_confirmation = false;
        ctx.config = std::sync::Arc::new(config);
        let t = BookAppointment::new(&ctx.config).unwrap();
        let mut a = args("2026-11-24T14:30");
        a["phone"] = json!("(555) 010-2030");
        let out = run(&t, a, &ctx).await.unwrap();
        assert_eq!(out["phone"], "+15550102030");
        assert_eq!(out["sms_confirmation"], "off");
    }

    #[tokio::test]
    async fn a_confirmation_goes_only_to_the_caller_or_an_allowed_country() {
        // SMS pumping: another number, abroad, gets no text by default…
        let ctx = ctx_at(sunday()).await;
        let t = BookAppointment::new(&ctx.config).unwrap();
        let mut a = args("2026-11-24T14:30");
        a["phone"] = json!("+88216543210");
        let out = run(&t, a, &ctx).await.unwrap();
        assert_eq!(out["booked"], true);
        assert_eq!(out["sms_confirmation"], "not_allowed");

        // …while a number in an allowed country does.
        let mut ctx = ctx_at(sunday()).await;
        let mut config = (*ctx.config).clone();
        config.bookings.sms_countries = vec!["+1".into()];
        ctx.config = std::sync::Arc::new(config);
        let t = BookAppointment::new(&ctx.config).unwrap();
        let mut a = args("2026-11-24T15:30");
        a["phone"] = json!("(555) 010-2030");
        let out = run(&t, a, &ctx).await.unwrap();
        assert_eq!(out["sms_confirmation"], "queued");
    }

    #[tokio::test]
    async fn bad_arguments_are_refused_and_nothing_is_stored() {
        let ctx = ctx_at(sunday()).await;
        let t = BookAppointment::new(&ctx.config).unwrap();
        let forty = format!("+{}", "4".repeat(40));
        let cases = [
            (
                json!({"service": "Cleaning", "start": "2026-11-20T10:00", "name": "A"}),
                "passed",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-22T09:00", "name": "A"}),
                "passed",
            ),
            (
                json!({"service": "Cleaning", "start": "2027-03-01T10:00", "name": "A"}),
                "only taken up to",
            ),
            (
                json!({"service": "Cleaning", "start": "tomorrow 10am", "name": "A"}),
                "ISO 8601",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T10:00:00-04:00", "name": "A"}),
                "offset",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T19:00", "name": "A"}),
                "outside opening hours",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T12:15", "name": "A"}),
                "outside opening hours",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T11:30", "name": "A"}),
                "run past closing",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T10:05", "name": "A"}),
                "every 15 minutes",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-28T10:00", "name": "A"}),
                "closed all day",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T10:00", "name": "A", "phone": forty}),
                "not a valid phone",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T10:00", "name": " "}),
                "name is required",
            ),
            (
                json!({"service": "Cleaning", "start": "2026-11-23T10:00"}),
                "name is required",
            ),
            (
                json!({"service": "Cleaning", "name": "A"}),
                "start is required",
            ),
            (
                json!({"service": "Cleaning", "start": 5, "name": "A"}),
                "must be a string",
            ),
        ];
        for (a, needle) in cases {
            match run(&t, a.clone(), &ctx).await {
                Err(ToolError::InvalidArguments(m)) => assert!(m.contains(needle), "{a}: {m}"),
                other => panic!("{a}: {other:?}"),
            }
        }
        assert!(matches!(
            run(
                &t,
                json!({"service": "Root canal", "start": "2026-11-23T10:00", "name": "A"}),
                &ctx
            )
            .await,
            Err(ToolError::NotFound(_))
        ));
        assert!(held(&ctx).await.is_empty(), "nothing stored");
    }

    #[tokio::test]
    async fn a_withheld_caller_must_give_a_number() {
        let mut ctx = ctx_at(sunday()).await;
        ctx.caller = "anonymous".into();
        let t = BookAppointment::new(&ctx.config).unwrap();
        assert!(matches!(
            run(&t, args("2026-11-23T10:00"), &ctx).await,
            Err(ToolError::InvalidArguments(m)) if m.contains("withheld")
        ));
        let mut a = args("2026-11-23T10:00");
        a["phone"] = json!("+15550102030");
        assert_eq!(run(&t, a, &ctx).await.unwrap()["booked"], true);
    }
}
