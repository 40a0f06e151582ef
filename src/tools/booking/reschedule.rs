//! `reschedule_appointment`: moves one of the caller's appointments to a
//! new time, atomically (the old time is kept if the new one cannot be had),
//! and texts the new time.

use chrono::Utc;
use serde_json::{json, Value};

use super::{
    booking_json, busy_between, calendar_failure, callers_bookings, confirm, id_arg, pick_booking,
    refusal, rules, service_of, slot_taken, start_arg, tz_of, CalendarSource,
};
use crate::calendar::local::{iso, spoken};
use crate::calendar::slots::Refusal;
use crate::calendar::CalendarError;
use crate::notify::NotifyEvent;
use crate::tools::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

pub struct RescheduleAppointment {
    calendar: CalendarSource,
}

impl RescheduleAppointment {
    pub fn new() -> Self {
        Self::with_calendar(super::builtin_calendar())
    }

    pub fn with_calendar(calendar: CalendarSource) -> Self {
        RescheduleAppointment { calendar }
    }
}

impl Default for RescheduleAppointment {
    fn default() -> Self {
        Self::new()
    }
}

async fn answer(
    calendar: CalendarSource,
    args: Value,
    ctx: ToolContext,
) -> Result<Value, ToolError> {
    let config = ctx.config.clone();
    let tz = tz_of(&config)?;
    let new_start = start_arg(&args, "new_start", tz)?;
    let id = id_arg(&args)?;
    let current = match opt_str(&args, "current_start")? {
        Some(_) => Some(start_arg(&args, "current_start", tz)?),
        None => None,
    };
    let calendar = calendar(&ctx);
    let bookings = callers_bookings(calendar.as_ref(), &ctx).await?;
    let booking = pick_booking(bookings, id, current, tz)?;
    if booking.start == new_start.with_timezone(&Utc) {
        return Err(ToolError::InvalidArguments(format!(
            "the appointment is already at {}",
            spoken(&new_start)
        )));
    }
    let service = service_of(&config, &booking);
    let rules = rules(&config, &service)?;
    let date = new_start.date_naive();
    // The appointment's own hold does not stand in its way.
    let own = booking.held();
    let mut busy = busy_between(calendar.as_ref(), &rules, date, date).await?;
    if let Some(i) = busy.iter().position(|b| *b == own) {
        busy.remove(i);
    }
    let slot = match rules.check(new_start, ctx.now, &busy) {
        Ok(slot) => slot,
        Err(Refusal::Taken) => {
            return slot_taken(
                calendar.as_ref(),
                &rules,
                new_start,
                ctx.now,
                Some(own),
                false,
            )
            .await
        }
        Err(r) => return Err(refusal(r)),
    };
    let moved = match calendar
        .reschedule(
            booking.id.clone(),
            slot.start.with_timezone(&Utc),
            slot.held_until,
        )
        .await
    {
        Ok(b) => b,
        Err(CalendarError::Conflict(_)) => {
            return slot_taken(
                calendar.as_ref(),
                &rules,
                new_start,
                ctx.now,
                Some(own),
                true,
            )
            .await
        }
        Err(e) => return Err(calendar_failure(e)),
    };
    let when = spoken(&slot.start);
    let sms = confirm(
        &ctx,
        NotifyEvent::AppointmentBooked {
            to: moved.phone.clone(),
            name: moved.name.clone(),
            service: moved.service.clone(),
            when: when.clone(),
        },
        &format!("appointment:{}:booked", moved.id),
    )
    .await;
    let mut appointment = booking_json(&moved, tz);
    appointment["end"] = json!(iso(&slot.end));
    Ok(json!({
        "rescheduled": true,
        "previous": booking_json(&booking, tz),
        "appointment": appointment,
        "sms_confirmation": sms,
    }))
}

impl Tool for RescheduleAppointment {
    fn name(&self) -> &'static str {
        "reschedule_appointment"
    }

    fn description(&self) -> &'static str {
        "Moves one of the caller's appointments (found by the number they are calling from) to a \
         new time from check_availability. First read back the current and the new day and time \
         and get the caller's yes. The old time is kept if the new one cannot be booked; on \
         slot_taken, offer the alternatives it lists."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "new_start": {
                    "type": "string",
                    "description": "The new start, ISO 8601 local time like 2026-11-24T14:30"
                },
                "current_start": {
                    "type": "string",
                    "description": "The current start, if the caller has several appointments"
                },
                "appointment_id": {
                    "type": "string",
                    "description": "The appointment's id from find_appointments, instead of current_start"
                }
            },
            "required": ["new_start"],
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
    use super::super::{BookAppointment, FindAppointments};
    use super::*;

    async fn book(ctx: &ToolContext, start: &str, phone: &str) {
        let t = BookAppointment::new(&ctx.config).unwrap();
        let out = run(
            &t,
            json!({"service": "Cleaning", "start": start, "name": "Dana", "phone": phone}),
            ctx,
        )
        .await
        .unwrap();
        assert_eq!(out["booked"], true, "{out}");
    }

    async fn mine(ctx: &ToolContext) -> Vec<String> {
        run(&FindAppointments::new(), json!({}), ctx).await.unwrap()["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["start"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn moves_within_its_own_hold_and_refuses_taken_times() {
        let ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        book(&ctx, "2026-11-23T10:00", "+15005550006").await;
        book(&ctx, "2026-11-23T13:00", "+15550102030").await;
        let t = RescheduleAppointment::new();
        // A quarter of an hour later overlaps only its own old hold.
        let out = run(&t, json!({"new_start": "2026-11-23T10:15"}), &ctx)
            .await
            .unwrap();
        assert_eq!(out["rescheduled"], true, "{out}");
        assert_eq!(out["previous"]["spoken"], "Monday 23 November at 10 am");
        assert_eq!(
            out["appointment"]["spoken"],
            "Monday 23 November at 10:15 am"
        );
        assert_eq!(out["appointment"]["end"], "2026-11-23T11:15:00-05:00");
        assert_eq!(out["sms_confirmation"], "queued");
        assert_eq!(mine(&ctx).await, ["2026-11-23T10:15:00-05:00"]);
        // Someone else's 13:00 is in the way: the old time stands.
        let out = run(&t, json!({"new_start": "2026-11-23T13:30"}), &ctx)
            .await
            .unwrap();
        assert_eq!(out["error"], "slot_taken", "{out}");
        assert!(!out["alternatives"].as_array().unwrap().is_empty());
        assert_eq!(mine(&ctx).await, ["2026-11-23T10:15:00-05:00"]);
        // Same time, bad times, outside hours: typed errors, nothing moves.
        for (args, needle) in [
            (json!({"new_start": "2026-11-23T10:15"}), "already at"),
            (json!({"new_start": "2026-11-21T10:00"}), "passed"),
            (
                json!({"new_start": "2026-11-23T18:00"}),
                "outside opening hours",
            ),
            (json!({"new_start": "soon"}), "ISO 8601"),
            (json!({}), "new_start is required"),
        ] {
            match run(&t, args.clone(), &ctx).await {
                Err(ToolError::InvalidArguments(m)) => assert!(m.contains(needle), "{args}: {m}"),
                other => panic!("{args}: {other:?}"),
            }
        }
        assert_eq!(mine(&ctx).await, ["2026-11-23T10:15:00-05:00"]);
    }

    #[tokio::test]
    async fn nothing_to_move_is_not_found() {
        let ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        assert!(matches!(
            run(
                &RescheduleAppointment::new(),
                json!({"new_start": "2026-11-23T10:00"}),
                &ctx
            )
            .await,
            Err(ToolError::NotFound(_))
        ));
    }
}
