//! The booking tools: `check_availability`, `book_appointment`,
//! `find_appointments`, `cancel_appointment`, `reschedule_appointment`.
//!
//! Every tool reads the call's configuration (services, hours, timezone,
//! slot size, horizon), validates all of its arguments before touching the
//! calendar, and answers with small JSON holding both the ISO time (with its
//! UTC offset) and the spoken form the model reads back. A slot taken in the
//! meantime is an answer, not a failure: `"error": "slot_taken"` with the
//! nearest free alternatives.

mod availability;
mod book;
mod cancel;
mod find;
mod reschedule;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

pub use availability::CheckAvailability;
pub use book::BookAppointment;
pub use cancel::CancelAppointment;
pub use find::FindAppointments;
pub use reschedule::RescheduleAppointment;

use super::{opt_str, ToolContext, ToolError};
use crate::calendar::local::{iso, parse_start, spoken};
use crate::calendar::slots::{Refusal, Slot, SlotRules};
use crate::calendar::{Booking, BuiltinCalendar, Calendar, CalendarError, Interval};
use crate::config::business::{is_e164, Service};
use crate::config::Config;
use crate::logmask::mask_phone;
use crate::notify::{notify, route, NotifyEvent};

/// Which calendar a call books into. The default is the built-in one over
/// the call's store; another adapter is plugged in with
/// `BookAppointment::with_calendar(config, source)` and friends.
pub type CalendarSource = Arc<dyn Fn(&ToolContext) -> Arc<dyn Calendar> + Send + Sync>;

/// The built-in calendar of the business being called.
pub fn builtin_calendar() -> CalendarSource {
    Arc::new(|ctx: &ToolContext| {
        Arc::new(BuiltinCalendar::new(
            ctx.store.clone(),
            business_number(ctx),
        )) as Arc<dyn Calendar>
    })
}

/// The calendar the business configured (`[calendar]`): the built-in one,
/// per call over the call's store, or a provider's, shared by every call
/// (one HTTP client, one cached token).
pub fn configured_calendar(config: &Config) -> Result<CalendarSource, CalendarError> {
    match crate::calendar::provider(&config.business.calendar)? {
        None => Ok(builtin_calendar()),
        Some(calendar) => Ok(Arc::new(move |_: &ToolContext| calendar.clone())),
    }
}

/// The business's configured number keys its calendar (every number that
/// reaches the business shares one calendar); the dialled number otherwise.
pub fn business_number(ctx: &ToolContext) -> String {
    let configured = ctx.config.business.business.phone.trim();
    if configured.is_empty() {
        ctx.called.clone()
    } else {
        configured.to_string()
    }
}

/// How many free slots one answer offers.
const OFFERED_SLOTS: usize = 6;
/// How many alternatives a taken slot comes with.
const ALTERNATIVES: usize = 3;
/// How many later free days an answer names when the asked day has nothing.
const NEXT_DAYS: usize = 3;
/// How far past the asked day to look for alternatives.
const SEARCH_DAYS: i64 = 21;
const MAX_NAME: usize = 100;
const MAX_PURPOSE: usize = 300;

fn services_enum(config: &Config) -> Vec<String> {
    config
        .business
        .services
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

fn tz_of(config: &Config) -> Result<Tz, ToolError> {
    config
        .business
        .timezone()
        .map_err(|e| ToolError::Unavailable(e.to_string()))
}

fn find_service<'c>(config: &'c Config, name: &str) -> Result<&'c Service, ToolError> {
    let wanted = name.trim();
    config
        .business
        .services
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            let known = services_enum(config);
            if known.is_empty() {
                ToolError::NotFound("this business takes no bookings by phone".into())
            } else {
                ToolError::NotFound(format!(
                    "no service {wanted:?}; bookable services: {}",
                    known.join(", ")
                ))
            }
        })
}

/// The rules for an existing booking: its configured service, or (if the
/// service has since been removed) its held length with no buffer.
fn service_of(config: &Config, booking: &Booking) -> Service {
    match find_service(config, &booking.service) {
        Ok(s) => s.clone(),
        Err(_) => Service {
            name: booking.service.clone(),
            duration_min: u32::try_from((booking.end - booking.start).num_minutes().max(1))
                .unwrap_or(u32::MAX),
            buffer_min: 0,
        },
    }
}

fn rules<'c>(config: &'c Config, service: &Service) -> Result<SlotRules<'c>, ToolError> {
    SlotRules::for_service(&config.business, service, &config.bookings)
        .map_err(|e| ToolError::Unavailable(e.to_string()))
}

/// A required, non-empty string argument.
fn req_str<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    match opt_str(args, key)?.map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ToolError::InvalidArguments(format!("{key} is required"))),
    }
}

fn bounded<'a>(s: &'a str, key: &str, max: usize) -> Result<&'a str, ToolError> {
    if s.chars().count() > max {
        return Err(ToolError::InvalidArguments(format!(
            "{key} is too long (at most {max} characters)"
        )));
    }
    Ok(s)
}

/// A phone number as E.164. Spaces, dashes, dots and brackets are dropped;
/// a national number is completed with +1 only when the business itself is
/// on the North American plan.
pub fn normalize_phone(raw: &str, business_phone: &str) -> Result<String, ToolError> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let nanp = business_phone.starts_with("+1");
    let candidate = if let Some(rest) = cleaned.strip_prefix("00") {
        format!("+{rest}")
    } else if nanp && cleaned.len() == 10 && digits(&cleaned) {
        format!("+1{cleaned}")
    } else if nanp && cleaned.len() == 11 && cleaned.starts_with('1') && digits(&cleaned) {
        format!("+{cleaned}")
    } else {
        cleaned
    };
    if is_e164(&candidate) {
        Ok(candidate)
    } else {
        Err(ToolError::InvalidArguments(format!(
            "phone {raw:?} is not a valid phone number; ask the caller for it again, with the area code"
        )))
    }
}

/// The caller's own number, when Twilio gave a usable one.
fn caller_phone(ctx: &ToolContext) -> Result<String, ToolError> {
    if is_e164(&ctx.caller) {
        Ok(ctx.caller.clone())
    } else {
        Err(ToolError::InvalidArguments(
            "the caller's number is withheld; ask for the phone number the booking is under".into(),
        ))
    }
}

fn start_arg(args: &Value, key: &str, tz: Tz) -> Result<DateTime<Tz>, ToolError> {
    let text = req_str(args, key)?;
    parse_start(text, tz).map_err(|e| ToolError::InvalidArguments(format!("{key}: {e}")))
}

fn slot_json(slot: &Slot) -> Value {
    json!({ "start": iso(&slot.start), "spoken": spoken(&slot.start) })
}

fn booking_json(b: &Booking, tz: Tz) -> Value {
    let start = b.start.with_timezone(&tz);
    json!({
        "appointment_id": b.id,
        "service": b.service,
        "start": iso(&start),
        "spoken": spoken(&start),
        "name": b.name,
        "phone": b.phone,
        "purpose": b.purpose,
    })
}

fn refusal(r: Refusal) -> ToolError {
    ToolError::InvalidArguments(r.to_string())
}

fn calendar_failure(e: CalendarError) -> ToolError {
    match e {
        CalendarError::NotFound => {
            ToolError::NotFound("that appointment is no longer booked".into())
        }
        CalendarError::Invalid(m) => ToolError::InvalidArguments(m),
        CalendarError::Conflict(m) => ToolError::Unavailable(m),
        CalendarError::Unavailable(m) => ToolError::Unavailable(format!(
            "the calendar cannot be reached right now ({m}); offer to take a message"
        )),
    }
}

/// Holds around the local dates `from..=to`, for slot reasoning.
async fn busy_between(
    calendar: &dyn Calendar,
    rules: &SlotRules<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Interval>, ToolError> {
    let w = rules.window(from, to);
    calendar
        .busy(w.start, w.end)
        .await
        .map_err(calendar_failure)
}

/// The answer when the wanted slot is (or just became) taken: the nearest
/// free ones instead.
async fn slot_taken(
    calendar: &dyn Calendar,
    rules: &SlotRules<'_>,
    wanted: DateTime<Tz>,
    now: DateTime<Utc>,
    ignore: Option<Interval>,
    just_now: bool,
) -> Result<Value, ToolError> {
    let date = wanted.date_naive();
    let mut busy = busy_between(calendar, rules, date, date + Duration::days(SEARCH_DAYS)).await?;
    if let Some(own) = ignore {
        if let Some(i) = busy.iter().position(|b| *b == own) {
            busy.remove(i);
        }
    }
    let alternatives: Vec<Value> = rules
        .nearest_free(wanted, now, &busy, ALTERNATIVES)
        .iter()
        .map(slot_json)
        .collect();
    let what = if just_now {
        "was just taken by someone else"
    } else {
        "is already taken"
    };
    Ok(json!({
        "error": "slot_taken",
        "message": format!(
            "{} {what}. Offer the caller one of the alternatives.",
            spoken(&wanted)
        ),
        "requested": { "start": iso(&wanted), "spoken": spoken(&wanted) },
        "alternatives": alternatives,
    }))
}

/// Queues the caller's confirmation text: "queued", "off" (SMS
/// confirmations are disabled), "not_allowed" (see [`may_text`]) or
/// "failed" (the booking stands; the model says no text is coming).
async fn confirm(ctx: &ToolContext, event: NotifyEvent, key: &str) -> &'static str {
    if route(&ctx.config, &event).is_empty() {
        return "off";
    }
    let to = match &event {
        NotifyEvent::AppointmentBooked { to, .. }
        | NotifyEvent::AppointmentCancelled { to, .. } => to.as_str(),
        _ => "",
    };
    if !may_text(ctx, to) {
        tracing::warn!(call_sid = %ctx.call_sid, to = %mask_phone(to), "confirmation text not sent: not the caller's number nor an allowed country");
        return "not_allowed";
    }
    match notify(&ctx.store, &ctx.config, &event, key).await {
        Ok(_) => "queued",
        Err(e) => {
            tracing::warn!(call_sid = %ctx.call_sid, key, error = %e, "could not queue the confirmation");
            "failed"
        }
    }
}

/// SMS pumping: a caller must not make the business text premium or
/// far-away numbers at its expense. A confirmation goes to the caller's own
/// number, or to a number in one of `bookings.sms_countries`.
fn may_text(ctx: &ToolContext, to: &str) -> bool {
    caller_phone(ctx).is_ok_and(|own| own == to)
        || ctx
            .config
            .bookings
            .sms_countries
            .iter()
            .any(|code| !code.is_empty() && to.starts_with(code.as_str()))
}

/// The caller's upcoming bookings, found by their number.
async fn callers_bookings(
    calendar: &dyn Calendar,
    ctx: &ToolContext,
) -> Result<Vec<Booking>, ToolError> {
    let phone = caller_phone(ctx)?;
    calendar
        .find_by_phone(phone, ctx.now)
        .await
        .map_err(calendar_failure)
}

/// The `appointment_id` argument, given as text or a number.
fn id_arg(args: &Value) -> Result<Option<String>, ToolError> {
    match args.get("appointment_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "appointment_id must be an id from find_appointments, got {other}"
        ))),
    }
}

/// Which of the caller's bookings the model means: by id, by start time,
/// or the only one there is.
fn pick_booking(
    bookings: Vec<Booking>,
    id: Option<String>,
    start: Option<DateTime<Tz>>,
    tz: Tz,
) -> Result<Booking, ToolError> {
    if bookings.is_empty() {
        return Err(ToolError::NotFound(
            "there is no upcoming appointment under the caller's number".into(),
        ));
    }
    let listing = || {
        bookings
            .iter()
            .map(|b| {
                format!(
                    "{} ({}, id {})",
                    spoken(&b.start.with_timezone(&tz)),
                    b.service,
                    b.id
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let found = match (&id, start) {
        (Some(id), _) => bookings.iter().find(|b| &b.id == id),
        (None, Some(start)) => bookings.iter().find(|b| b.start == start),
        (None, None) if bookings.len() == 1 => bookings.first(),
        (None, None) => {
            return Err(ToolError::InvalidArguments(format!(
                "the caller has {} upcoming appointments: {}; ask which one",
                bookings.len(),
                listing()
            )))
        }
    };
    match found {
        Some(b) => Ok(b.clone()),
        None => Err(ToolError::NotFound(format!(
            "no such appointment under the caller's number; their appointments: {}",
            listing()
        ))),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::config::ConfigSources;

    /// The sample business of `config/`, a fixed caller, and `now`.
    pub async fn ctx_at(now: DateTime<Utc>) -> ToolContext {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let config = Config::load_with_env(&ConfigSources::in_dir(&dir), &[]).unwrap();
        let mut ctx = crate::tools::test_context().await;
        ctx.config = Arc::new(config);
        ctx.now = now;
        ctx.caller = "+15005550006".into();
        ctx
    }

    pub fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Runs a tool the way the toolbox does and returns its JSON.
    pub async fn run(
        tool: &dyn crate::tools::Tool,
        args: Value,
        ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        tool.run(args, ctx.clone()).await.map(|o| o.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164_or_are_refused() {
        let biz = "+15551230000";
        assert_eq!(
            normalize_phone("+1 (555) 010-2030", biz).unwrap(),
            "+15550102030"
        );
        assert_eq!(
            normalize_phone("555.010.2030", biz).unwrap(),
            "+15550102030"
        );
        assert_eq!(
            normalize_phone("1-555-010-2030", biz).unwrap(),
            "+15550102030"
        );
        assert_eq!(
            normalize_phone("0044 20 7946 0958", biz).unwrap(),
            "+442079460958"
        );
        let forty = format!("+{}", "1".repeat(40));
        assert!(matches!(
            normalize_phone(&forty, biz),
            Err(ToolError::InvalidArguments(m)) if m.contains("not a valid phone number")
        ));
        assert!(normalize_phone("call me maybe", biz).is_err());
        assert!(
            normalize_phone("5550102030", "+442079460000").is_err(),
            "no guessing abroad"
        );
    }

    #[test]
    fn bookings_are_picked_by_id_start_or_uniqueness() {
        use chrono::TimeZone;
        let tz = chrono_tz::America::New_York;
        let b = |id: &str, h: u32| Booking {
            id: id.into(),
            service: "Cleaning".into(),
            start: tz
                .with_ymd_and_hms(2030, 6, 3, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
            end: tz
                .with_ymd_and_hms(2030, 6, 3, h + 1, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
            name: "Ada".into(),
            phone: "+15550001111".into(),
            purpose: String::new(),
        };
        let two = vec![b("1", 9), b("2", 14)];
        assert_eq!(
            pick_booking(two.clone(), Some("2".into()), None, tz)
                .unwrap()
                .id,
            "2"
        );
        let at9 = tz.with_ymd_and_hms(2030, 6, 3, 9, 0, 0).unwrap();
        assert_eq!(
            pick_booking(two.clone(), None, Some(at9), tz).unwrap().id,
            "1"
        );
        assert!(matches!(
            pick_booking(two.clone(), None, None, tz),
            Err(ToolError::InvalidArguments(m)) if m.contains("ask which")
        ));
        assert!(matches!(
            pick_booking(two, Some("9".into()), None, tz),
            Err(ToolError::NotFound(_))
        ));
        assert_eq!(
            pick_booking(vec![b("1", 9)], None, None, tz).unwrap().id,
            "1"
        );
        assert!(matches!(
            pick_booking(Vec::new(), None, None, tz),
            Err(ToolError::NotFound(_))
        ));
    }
}
