//! `find_appointments`: the caller's upcoming appointments, found by the
//! number they are calling from, so the model can read them back before a
//! cancellation or a move.

use serde_json::{json, Value};

use super::{booking_json, callers_bookings, tz_of, CalendarSource};
use crate::tools::{Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

pub struct FindAppointments {
    calendar: CalendarSource,
}

impl FindAppointments {
    pub fn new() -> Self {
        Self::with_calendar(super::builtin_calendar())
    }

    pub fn with_calendar(calendar: CalendarSource) -> Self {
        FindAppointments { calendar }
    }
}

impl Default for FindAppointments {
    fn default() -> Self {
        Self::new()
    }
}

async fn answer(calendar: CalendarSource, ctx: ToolContext) -> Result<Value, ToolError> {
    let tz = tz_of(&ctx.config)?;
    let calendar = calendar(&ctx);
    let bookings = callers_bookings(calendar.as_ref(), &ctx).await?;
    Ok(json!({
        "phone": ctx.caller,
        "appointments": bookings.iter().map(|b| booking_json(b, tz)).collect::<Vec<_>>(),
    }))
}

impl Tool for FindAppointments {
    fn name(&self) -> &'static str {
        "find_appointments"
    }

    fn description(&self) -> &'static str {
        "Lists the caller's upcoming appointments, found by the number they are calling from. \
         Use it before cancelling or moving an appointment, and read the one meant back to the \
         caller (spoken form)."
    }

    fn parameters(&self) -> Value {
        json!({ "type": "object", "properties": {}, "additionalProperties": false })
    }

    fn run(&self, _args: Value, ctx: ToolContext) -> ToolFuture {
        let calendar = self.calendar.clone();
        Box::pin(async move { answer(calendar, ctx).await.map(ToolOutput::data) })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ctx_at, run, utc};
    use super::super::BookAppointment;
    use super::*;

    #[tokio::test]
    async fn lists_only_the_callers_upcoming_appointments() {
        let ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        let book = BookAppointment::new(&ctx.config).unwrap();
        for (start, phone) in [
            ("2026-11-24T09:00", None),
            ("2026-11-23T13:00", None),
            ("2026-11-23T08:00", Some("+15550102030")),
        ] {
            let mut a = json!({"service": "Checkup", "start": start, "name": "Dana"});
            if let Some(p) = phone {
                a["phone"] = json!(p);
            }
            assert_eq!(run(&book, a, &ctx).await.unwrap()["booked"], true);
        }
        let out = run(&FindAppointments::new(), json!({}), &ctx)
            .await
            .unwrap();
        let spoken: Vec<&str> = out["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["spoken"].as_str().unwrap())
            .collect();
        assert_eq!(
            spoken,
            ["Monday 23 November at 1 pm", "Tuesday 24 November at 9 am"]
        );
        assert_eq!(out["appointments"][0]["service"], "Checkup");
        // After the first one has ended, only the second remains.
        let mut later = ctx.clone();
        later.now = utc("2026-11-23T18:45:00Z");
        let out = run(&FindAppointments::new(), json!({}), &later)
            .await
            .unwrap();
        assert_eq!(out["appointments"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn withheld_numbers_cannot_be_looked_up() {
        let mut ctx = ctx_at(utc("2026-11-22T15:00:00Z")).await;
        ctx.caller = String::new();
        assert!(matches!(
            run(&FindAppointments::new(), json!({}), &ctx).await,
            Err(ToolError::InvalidArguments(_))
        ));
    }
}
