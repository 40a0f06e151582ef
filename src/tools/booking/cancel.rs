//! `cancel_appointment`: cancels one of the caller's appointments (found by
//! their number; by id or start time when they have several) and texts a
//! cancellation notice.

use serde_json::{json, Value};

use super::{
    booking_json, calendar_failure, callers_bookings, confirm, id_arg, pick_booking, start_arg,
    tz_of, CalendarSource,
};
use crate::calendar::local::spoken;
use crate::notify::NotifyEvent;
use crate::tools::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

pub struct CancelAppointment {
    calendar: CalendarSource,
}

impl CancelAppointment {
    pub fn new() -> Self {
        Self::with_calendar(super::builtin_calendar())
    }

    pub fn with_calendar(calendar: CalendarSource) -> Self {
        CancelAppointment { calendar }
    }
}

impl Default for CancelAppointment {
    fn default() -> Self {
        Self::new()
    }
}

async fn answer(
    calendar: CalendarSource,
    args: Value,
    ctx: ToolContext,
) -> Result<Value, ToolError> {
    let tz = tz_of(&ctx.config)?;
    let id = id_arg(&args)?;
    let start = match opt_str(&args, "start")? {
        Some(_) => Some(start_arg(&args, "start", tz)?),
        None => None,
    };
    let calendar = calendar(&ctx);
    let bookings = callers_bookings(calendar.as_ref(), &ctx).await?;
    let booking = pick_booking(bookings, id, start, tz)?;
    let cancelled = calendar
        .cancel(booking.id.clone())
        .await
        .map_err(calendar_failure)?;
    let when = spoken(&cancelled.start.with_timezone(&tz));
    let sms = confirm(
        &ctx,
        NotifyEvent::AppointmentCancelled {
            to: cancelled.phone.clone(),
            name: cancelled.name.clone(),
            when,
        },
        &format!("appointment:{}:cancelled", cancelled.id),
    )
    .await;
    Ok(json!({
        "cancelled": true,
        "appointment": booking_json(&cancelled, tz),
        "sms_confirmation": sms,
    }))
}

impl Tool for CancelAppointment {
    fn name(&self) -> &'static str {
        "cancel_appointment"
    }

    fn description(&self) -> &'static str {
        "Cancels one of the caller's appointments (found by the number they are calling from). \
         First read the appointment (service, day and time) back to the caller and get their yes. \
         If they have several, say which with appointment_id or start from find_appointments."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "appointment_id": {
                    "type": "string",
                    "description": "The appointment's id from find_appointments"
                },
                "start": {
                    "type": "string",
                    "description": "The appointment's start, ISO 8601 local time like 2026-11-24T14:30"
                }
            },
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

    async fn book(ctx: &ToolContext, start: &str) -> String {
        let t = BookAppointment::new(&ctx.config).unwrap();
        let out = run(
            &t,
            json!({"service": "Checkup", "start": start, "name": "Dana"}),
            ctx,
        )
        .await
        .unwrap();
        out["appointment_id"].as_str().unwrap().to_string()
    }

    async fn upcoming(ctx: &ToolContext) -> usize {
        run(&FindAppointments::new(), json!({}), ctx).await.unwrap()["appointments"]
            .as_array()
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn cancels_the_only_one_or_the_one_named() {
        let ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        let t = CancelAppointment::new();
        assert!(matches!(
            run(&t, json!({}), &ctx).await,
            Err(ToolError::NotFound(_))
        ));
        let first = book(&ctx, "2026-11-23T09:00").await;
        let second = book(&ctx, "2026-11-24T09:00").await;
        assert!(matches!(
            run(&t, json!({}), &ctx).await,
            Err(ToolError::InvalidArguments(m)) if m.contains("2 upcoming")
        ));
        let out = run(&t, json!({"start": "2026-11-24T09:00"}), &ctx)
            .await
            .unwrap();
        assert_eq!(out["cancelled"], true);
        assert_eq!(out["appointment"]["appointment_id"], second);
        assert_eq!(out["appointment"]["spoken"], "Tuesday 24 November at 9 am");
        assert_eq!(out["sms_confirmation"], "queued");
        assert_eq!(upcoming(&ctx).await, 1);
        // Now only one is left, so no argument is needed; numeric ids work too.
        let id: i64 = first.parse().unwrap();
        let out = run(&t, json!({"appointment_id": id}), &ctx).await.unwrap();
        assert_eq!(out["appointment"]["appointment_id"], first);
        assert_eq!(upcoming(&ctx).await, 0);
    }

    #[tokio::test]
    async fn someone_elses_appointment_cannot_be_cancelled() {
        let ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        let id = book(&ctx, "2026-11-23T09:00").await;
        let mut other = ctx.clone();
        other.caller = "+15550102030".into();
        let t = CancelAppointment::new();
        assert!(matches!(
            run(&t, json!({"appointment_id": id}), &other).await,
            Err(ToolError::NotFound(_))
        ));
        assert!(matches!(
            run(&t, json!({"start": "not a time"}), &ctx).await,
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            run(&t, json!({"appointment_id": true}), &ctx).await,
            Err(ToolError::InvalidArguments(_))
        ));
        assert_eq!(upcoming(&ctx).await, 1);
    }
}
