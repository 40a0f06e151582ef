//! The business the receptionist answers for: name, timezone, weekly hours,
//! holidays, departments, greeting and persona (`config/business.toml`).

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessConfig {
    pub business: Business,
    #[serde(default)]
    pub hours: WeeklyHours,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    #[serde(default)]
    pub departments: Vec<Department>,
    /// What can be booked, and how long it takes.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Callers the receptionist knows (loaded into the database at start).
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Redaction and retention (`[privacy]`).
    #[serde(default)]
    pub privacy: super::privacy::PrivacyConfig,
    /// Which calendar bookings go into (`[calendar]`).
    #[serde(default)]
    pub calendar: super::calendar::CalendarConfig,
    /// The business's own HTTP tools (`[[http_tools]]`).
    #[serde(default)]
    pub http_tools: Vec<super::integrations::HttpToolConfig>,
    /// Endpoints that receive signed event webhooks (`[[webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<super::integrations::WebhookEndpoint>,
}

/// A bookable service (`[[services]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub duration_min: u32,
    /// Free time kept after each appointment of this kind.
    #[serde(default)]
    pub buffer_min: u32,
}

/// A known caller (`[[contacts]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub phone: String,
    pub name: String,
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    pub notes: String,
}

/// When calls are announced as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordingDisclosure {
    /// Calls are not recorded; nothing to announce.
    #[default]
    Off,
    /// Announce on every call.
    Always,
    /// Announce only to callers from two-party-consent states (by area code).
    TwoPartyStates,
}

/// What a department does when a transfer is not answered (the call core
/// owns the type: the machine acts on it).
pub use frontdesk_core::OnNoAnswer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub name: String,
    /// The business's own number (E.164), used as caller ID on transfers.
    #[serde(default)]
    pub phone: String,
    /// IANA timezone, e.g. `America/New_York`.
    pub timezone: String,
    pub greeting: String,
    #[serde(default)]
    pub persona: String,
    /// Department that DTMF 0 and "a person, please" reach.
    #[serde(default)]
    pub operator: String,
    /// Whether and to whom calls are announced as recorded.
    #[serde(default)]
    pub recording: RecordingDisclosure,
    /// The announcement itself.
    #[serde(default = "default_disclosure")]
    pub recording_disclosure: String,
    /// How very important callers are treated (added to the instructions).
    #[serde(default)]
    pub vip_treatment: String,
}

fn default_disclosure() -> String {
    "This call may be recorded.".into()
}

/// One opening span within a day, `"08:00-12:00"` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("opening span {s:?} must look like \"08:00-17:00\""))?;
        let parse = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("{t:?} in {s:?} is not an HH:MM time"))
        };
        let (open, close) = (parse(a)?, parse(b)?);
        if close <= open {
            return Err(format!("opening span {s:?} closes before it opens"));
        }
        Ok(Span { open, close })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.open.format("%H:%M"),
            self.close.format("%H:%M")
        )
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeeklyHours {
    pub monday: Vec<Span>,
    pub tuesday: Vec<Span>,
    pub wednesday: Vec<Span>,
    pub thursday: Vec<Span>,
    pub friday: Vec<Span>,
    pub saturday: Vec<Span>,
    pub sunday: Vec<Span>,
}

impl WeeklyHours {
    pub fn day(&self, day: Weekday) -> &[Span] {
        match day {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat => &self.saturday,
            Weekday::Sun => &self.sunday,
        }
    }

    fn check(&self, owner: &str) -> Result<(), BusinessConfigError> {
        for day in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ] {
            check_spans(self.day(day), &format!("{owner} {day}"))?;
        }
        Ok(())
    }
}

fn check_spans(spans: &[Span], owner: &str) -> Result<(), BusinessConfigError> {
    for pair in spans.windows(2) {
        if pair[1].open < pair[0].close {
            return Err(BusinessConfigError::Spans {
                owner: owner.to_string(),
                first: pair[0],
                second: pair[1],
            });
        }
    }
    Ok(())
}

/// What is wrong with `business.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessConfigError {
    #[error("business.name is empty (is config/business.toml there?)")]
    NoName,
    #[error("business.greeting is empty")]
    NoGreeting,
    #[error("business.timezone {0:?} is not an IANA timezone")]
    Timezone(String),
    #[error("{owner}: spans {first} and {second} overlap or are out of order")]
    Spans {
        owner: String,
        first: Span,
        second: Span,
    },
    #[error("department {department:?}: phone {phone:?} must be E.164 like +15551230100")]
    DepartmentPhone { department: String, phone: String },
    #[error("business.operator {0:?} names no department")]
    UnknownOperator(String),
    #[error("{0}")]
    Calendar(String),
    #[error(transparent)]
    Integration(#[from] super::integrations::IntegrationConfigError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
    /// Special hours that day; absent or empty means closed.
    #[serde(default)]
    pub hours: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub name: String,
    pub phone: String,
    /// The department's own hours; absent means the business's hours.
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
    /// What happens when a transfer here is not answered.
    #[serde(default)]
    pub on_no_answer: OnNoAnswer,
}

impl BusinessConfig {
    /// A small, valid business for tests and in-code defaults.
    pub fn sample() -> Self {
        let span = |s: &str| s.parse::<Span>().ok().into_iter().collect::<Vec<_>>();
        BusinessConfig {
            business: Business {
                name: "Harbor Dental".into(),
                phone: "+15551230000".into(),
                timezone: "America/New_York".into(),
                greeting: "Thanks for calling Harbor Dental. How can I help you today?".into(),
                persona: "You are the receptionist of Harbor Dental.".into(),
                operator: "Front desk".into(),
                recording: RecordingDisclosure::Off,
                recording_disclosure: default_disclosure(),
                vip_treatment: String::new(),
            },
            hours: WeeklyHours {
                monday: span("09:00-17:00"),
                tuesday: span("09:00-17:00"),
                wednesday: span("09:00-17:00"),
                thursday: span("09:00-17:00"),
                friday: span("09:00-17:00"),
                saturday: Vec::new(),
                sunday: Vec::new(),
            },
            holidays: Vec::new(),
            departments: vec![Department {
                name: "Front desk".into(),
                phone: "+15551230100".into(),
                hours: None,
                on_no_answer: OnNoAnswer::Voicemail,
            }],
            services: vec![Service {
                name: "Cleaning".into(),
                duration_min: 60,
                buffer_min: 10,
            }],
            contacts: Vec::new(),
            privacy: super::privacy::PrivacyConfig::default(),
            calendar: super::calendar::CalendarConfig::default(),
            http_tools: Vec::new(),
            webhooks: Vec::new(),
        }
    }

    pub fn timezone(&self) -> Result<chrono_tz::Tz, BusinessConfigError> {
        self.business
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| BusinessConfigError::Timezone(self.business.timezone.clone()))
    }

    pub fn department(&self, name: &str) -> Option<&Department> {
        let wanted = name.trim();
        self.departments
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(wanted))
    }

    /// The department DTMF 0 reaches.
    pub fn operator(&self) -> Option<&Department> {
        self.department(&self.business.operator)
            .or_else(|| self.departments.first())
    }

    pub fn validate(&self) -> Result<(), BusinessConfigError> {
        if self.business.name.trim().is_empty() {
            return Err(BusinessConfigError::NoName);
        }
        if self.business.greeting.trim().is_empty() {
            return Err(BusinessConfigError::NoGreeting);
        }
        self.timezone()?;
        self.hours.check("hours")?;
        for h in &self.holidays {
            check_spans(&h.hours, &format!("holiday {}", h.date))?;
        }
        for d in &self.departments {
            if !is_e164(&d.phone) {
                return Err(BusinessConfigError::DepartmentPhone {
                    department: d.name.clone(),
                    phone: d.phone.clone(),
                });
            }
            if let Some(h) = &d.hours {
                h.check(&format!("department {:?}", d.name))?;
            }
        }
        if !self.business.operator.is_empty() && self.department(&self.business.operator).is_none()
        {
            return Err(BusinessConfigError::UnknownOperator(
                self.business.operator.clone(),
            ));
        }
        self.calendar
            .validate()
            .map_err(BusinessConfigError::Calendar)?;
        super::integrations::validate(&self.http_tools, &self.webhooks, &[])?;
        Ok(())
    }
}

/// `+` then 8 to 15 digits, the E.164 shape.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_reject_nonsense() {
        let s: Span = "08:00-12:30".parse().unwrap();
        assert_eq!(s.to_string(), "08:00-12:30");
        assert!("12:00-08:00".parse::<Span>().is_err());
        assert!("8am-5pm".parse::<Span>().is_err());
        assert!("08:00".parse::<Span>().is_err());
    }

    #[test]
    fn e164() {
        assert!(is_e164("+15551230100"));
        assert!(!is_e164("5551230100"));
        assert!(!is_e164("+1555123010012345678"));
        assert!(!is_e164("+1555-123"));
    }

    #[test]
    fn sample_is_valid() {
        BusinessConfig::sample().validate().unwrap();
    }

    #[test]
    fn overlapping_spans_rejected() {
        let mut b = BusinessConfig::sample();
        b.hours.monday = vec![
            "08:00-12:00".parse().unwrap(),
            "11:00-13:00".parse().unwrap(),
        ];
        assert!(b.validate().unwrap_err().to_string().contains("overlap"));
    }

    #[test]
    fn operator_must_name_a_department() {
        let mut b = BusinessConfig::sample();
        b.business.operator = "Nobody".into();
        assert!(b.validate().is_err());
    }
}
