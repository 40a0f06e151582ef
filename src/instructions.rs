//! The model's instructions, built from `business.toml` and what we know of
//! the caller. Short on purpose: the first turn must come fast, and the
//! facts belong in tool results, not in a long prompt.

use chrono::{DateTime, TimeZone, Utc};

use crate::config::Config;
use crate::tools::hours::Schedule;

/// What is known about the caller when the call starts.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub from: String,
    pub now: DateTime<Utc>,
}

pub fn session_instructions(config: &Config, caller: &CallerContext) -> String {
    let b = &config.business;
    let local = match b.timezone() {
        Ok(tz) => tz
            .from_utc_datetime(&caller.now.naive_utc())
            .format("%A %Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => caller.now.format("%A %Y-%m-%d %H:%M UTC").to_string(),
    };
    let departments: Vec<&str> = b.departments.iter().map(|d| d.name.as_str()).collect();
    let mut text = String::new();
    text.push_str(b.business.persona.trim());
    text.push_str(&format!(
        "\n\nYou answer the phone for {name}. It is now {local} ({tz}).\
         \nWeekly hours: {hours}.\
         \nDepartments: {departments}.\
         \nThe caller's number is {from}.\
         \n\nRules:\
         \n- This is a phone call: short sentences, no lists, no markdown, no URLs.\
         \n- Use get_business_hours for any question about opening hours; never guess.\
         \n- Never invent prices, availability or facts you were not given by a tool.\
         \n- No medical, legal or financial advice; offer to take a message instead.\
         \n- If the caller describes an emergency, tell them to hang up and dial 911 now.\
         \n- When the caller is done, say goodbye and call end_call.",
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
    text
}

/// The instructions of the greeting response: the configured words, at once.
pub fn greeting_instructions(config: &Config) -> String {
    format!(
        "Greet the caller now by saying exactly: \"{}\"",
        config.business.business.greeting.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_business_facts_and_caller() {
        let c = Config::default();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = session_instructions(
            &c,
            &CallerContext {
                from: "+15550001111".into(),
                now,
            },
        );
        assert!(text.contains("Harbor Dental"));
        assert!(text.contains("Monday 2026-11-23 10:00"), "{text}");
        assert!(text.contains("+15550001111"));
        assert!(text.contains("Front desk"));
        assert!(greeting_instructions(&c).contains("Thanks for calling Harbor Dental"));
    }
}
