//! The model's instructions, built from `business.toml` and what we know of
//! the caller. Short on purpose: the first turn must come fast, and the
//! facts belong in tool results, not in a long prompt. The guardrails
//! (recording disclosure, emergencies, no advice, no invented facts) live
//! here, driven by configuration.

pub mod consent;

use chrono::{DateTime, TimeZone, Utc};

use crate::business::hours::Schedule;
use crate::config::business::RecordingDisclosure;
use crate::config::BusinessConfig;
use crate::store::KnownCaller;

/// What is known about the caller when the call starts.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub from: String,
    pub now: DateTime<Utc>,
    /// The contact matching the caller ID, if any.
    pub known: Option<KnownCaller>,
}

pub fn session_instructions(b: &BusinessConfig, caller: &CallerContext) -> String {
    let local = match b.timezone() {
        Ok(tz) => tz
            .from_utc_datetime(&caller.now.naive_utc())
            .format("%A %Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => caller.now.format("%A %Y-%m-%d %H:%M UTC").to_string(),
    };
    let departments: Vec<&str> = b.departments.iter().map(|d| d.name.as_str()).collect();
    let operator = b
        .operator()
        .map(|d| d.name.as_str())
        .unwrap_or("the front desk");
    let mut text = String::new();
    text.push_str(b.business.persona.trim());
    text.push_str(&format!(
        "\n\nYou answer the phone for {name}. It is now {local} ({tz}).\
         \nWeekly hours: {hours}.\
         \nDepartments: {departments}.\
         \nThe caller's number is {from}.",
        name = b.business.name,
        tz = b.business.timezone,
        hours = Schedule::of_business(b).weekly_summary(),
        departments = if departments.is_empty() {
            "none".to_string()
        } else {
            departments.join(", ")
        },
        from = if caller.from.is_empty() {
            "unknown"
        } else {
            caller.from.as_str()
        },
    ));
    if let Some(known) = &caller.known {
        text.push_str(&format!(
            "\nThe caller is {name}, a known patient recognised by their number: greet them by name.",
            name = known.name
        ));
        if !known.notes.trim().is_empty() {
            text.push_str(&format!(
                "\nPrivate notes about {name} (use them, never read them out): {notes}",
                name = known.name,
                notes = known.notes.trim()
            ));
        }
        if known.vip && !b.business.vip_treatment.trim().is_empty() {
            text.push_str(&format!(
                "\n{name} is a VIP. {treatment}",
                name = known.name,
                treatment = b.business.vip_treatment.trim()
            ));
        }
    }
    if needs_disclosure(b, &caller.from) {
        text.push_str(
            "\nThis call is recorded and the caller is told so in the greeting; if they ask, confirm it.",
        );
    }
    text.push_str(&format!(
        "\n\nRules:\
         \n- This is a phone call: short sentences, no lists, no markdown, no URLs.\
         \n- Use get_business_hours for any question about opening hours; never guess.\
         \n- For questions about the practice (insurance, new patients, parking, payments, \
         cancellations and the like) use answer_question and answer only from the passages it \
         returns, saying which page the answer comes from.\
         \n- Never invent availability, prices or facts: say only what a tool result or the \
         knowledge base gave you. If you don't know, say so and offer to take a message.\
         \n- No medical, legal or financial advice: do not diagnose, recommend treatment or \
         medicine, or interpret contracts or coverage. Offer to take a message for the team instead.\
         \n- If the caller describes an emergency (trouble breathing or swallowing, heavy \
         bleeding, a serious injury, someone unconscious, any danger to life), tell them at once \
         to hang up and dial 911. Then offer to transfer them to {operator}.\
         \n- To reach a person use transfer_call with a department from the list; if it is \
         closed, offer take_message instead.\
         \n- Before take_message, get the caller's name, what it is about and the message, and \
         confirm the callback number; afterwards read the details back.\
         \n- Bookings: find times with check_availability; before book_appointment, cancel_appointment or reschedule_appointment, read the service, day, time, name and number back and wait for the caller's yes.\
         \n- When the caller is done, say goodbye and call end_call."
    ));
    text
}

/// Whether this caller must be told that the call is recorded. With
/// `two_party_states`, a caller whose number cannot be read (withheld) is
/// told too: their state cannot be ruled out.
pub fn needs_disclosure(business: &BusinessConfig, from: &str) -> bool {
    match business.business.recording {
        RecordingDisclosure::Off => false,
        RecordingDisclosure::Always => true,
        RecordingDisclosure::TwoPartyStates => {
            let readable = crate::business::phone::caller_number(from, false).is_some();
            !readable || consent::two_party_state(from).is_some()
        }
    }
}

/// The instructions of the greeting response: the configured words, at
/// once — with a known caller's first name in front, and the recording
/// disclosure right after when it applies.
pub fn greeting_instructions(
    business: &BusinessConfig,
    from: &str,
    known: Option<&KnownCaller>,
) -> String {
    let b = &business.business;
    let mut words = String::new();
    if let Some(first) = known.and_then(|k| k.name.split_whitespace().next()) {
        words.push_str(&format!("Hi {first}! "));
    }
    words.push_str(b.greeting.trim());
    if needs_disclosure(business, from) && !b.recording_disclosure.trim().is_empty() {
        words.push(' ');
        words.push_str(b.recording_disclosure.trim());
    }
    format!("Greet the caller now by saying exactly: \"{words}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn now() -> DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn greet(c: &Config, from: &str, known: Option<KnownCaller>) -> String {
        greeting_instructions(&c.business, from, known.as_ref())
    }

    fn dana(vip: bool) -> KnownCaller {
        KnownCaller {
            phone: "+15005550006".into(),
            name: "Dana Whitfield".into(),
            vip,
            notes: "Prefers afternoon appointments.".into(),
        }
    }

    fn ctx(from: &str, known: Option<KnownCaller>) -> CallerContext {
        CallerContext {
            from: from.into(),
            now: now(),
            known,
        }
    }

    #[test]
    fn carries_business_facts_and_caller() {
        let c = Config::default();
        let text = session_instructions(&c.business, &ctx("+15550001111", None));
        assert!(text.contains("Harbor Dental"));
        assert!(text.contains("Monday 2026-11-23 10:00"), "{text}");
        assert!(text.contains("+15550001111"));
        assert!(text.contains("Front desk"));
        assert!(!text.contains("known patient"));
        assert!(greet(&c, "+15550001111", None).contains("Thanks for calling Harbor Dental"));
    }

    #[test]
    fn guardrails_are_always_there() {
        let text = session_instructions(&Config::default().business, &ctx("+15550001111", None));
        assert!(text.contains("hang up and dial 911"), "{text}");
        assert!(
            text.contains("offer to transfer them to Front desk"),
            "{text}"
        );
        assert!(
            text.contains("No medical, legal or financial advice"),
            "{text}"
        );
        assert!(
            text.contains("Never invent availability, prices or facts"),
            "{text}"
        );
        assert!(text.contains("answer_question"), "{text}");
    }

    #[test]
    fn known_callers_are_named_and_vips_get_the_treatment() {
        let mut c = Config::default();
        c.business.business.vip_treatment = "Offer to put them straight through.".into();
        let text = session_instructions(&c.business, &ctx("+15005550006", Some(dana(true))));
        assert!(text.contains("The caller is Dana Whitfield"), "{text}");
        assert!(text.contains("Prefers afternoon appointments."), "{text}");
        assert!(
            text.contains("Dana Whitfield is a VIP. Offer to put them straight through."),
            "{text}"
        );

        let text = session_instructions(&c.business, &ctx("+15005550006", Some(dana(false))));
        assert!(text.contains("The caller is Dana Whitfield"));
        assert!(!text.contains("VIP"), "{text}");

        let g = greet(&c, "+15005550006", Some(dana(true)));
        assert!(
            g.contains("\"Hi Dana! Thanks for calling Harbor Dental"),
            "{g}"
        );
    }

    #[test]
    fn recording_disclosure_follows_the_setting_and_area_code() {
        let mut c = Config::default();
        c.business.business.recording_disclosure = "This call may be recorded for quality.".into();
        let greeting = c.business.business.greeting.clone();
        let said = |c: &Config, from: &str| greet(c, from, None);
        let expected = format!("\"{greeting} This call may be recorded for quality.\"");

        // Off: never.
        assert!(!said(&c, "+14155550100").contains("recorded"));

        // Always: everyone, right after the greeting.
        c.business.business.recording = RecordingDisclosure::Always;
        assert!(
            said(&c, "+12125550100").ends_with(&expected),
            "{}",
            said(&c, "+12125550100")
        );

        // Two-party states: California yes, New York no, withheld yes.
        c.business.business.recording = RecordingDisclosure::TwoPartyStates;
        assert!(said(&c, "+14155550100").ends_with(&expected));
        assert!(said(&c, "+13055550100").ends_with(&expected));
        assert!(!said(&c, "+12125550100").contains("recorded"));
        assert!(said(&c, "anonymous").ends_with(&expected));
        assert!(said(&c, "+266696687").ends_with(&expected));
        assert!(!said(&c, "+442079460000").contains("recorded"));
        assert!(
            session_instructions(&c.business, &ctx("+14155550100", None))
                .contains("This call is recorded")
        );
        assert!(
            !session_instructions(&c.business, &ctx("+12125550100", None))
                .contains("This call is recorded")
        );
    }
}
