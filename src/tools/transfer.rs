//! `transfer_call`: put the caller through to a department from the
//! configured directory — never an arbitrary number the model was told. A
//! department that is closed right now is not dialled; the model offers to
//! take a message instead.

use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::business::hours::{weekday_name, Schedule};
use crate::config::business::BusinessConfigError;
use crate::config::BusinessConfig;
use chrono::Datelike;
use frontdesk_core::ToolEffect;

pub struct TransferCall {
    business: BusinessConfig,
    tz: Tz,
}

impl TransferCall {
    pub fn new(business: BusinessConfig) -> Result<Self, BusinessConfigError> {
        let tz = business.timezone()?;
        Ok(TransferCall { business, tz })
    }

    fn directory(&self) -> Vec<&str> {
        self.business
            .departments
            .iter()
            .map(|d| d.name.as_str())
            .collect()
    }

    /// The decision at a given instant (tests pass a fixed clock).
    pub fn decide(
        &self,
        args: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ToolOutput, ToolError> {
        let wanted = opt_str(args, "department")?
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                ToolError::InvalidArguments(format!(
                    "department is required; the departments are: {}",
                    self.directory().join(", ")
                ))
            })?;
        let department = self.business.department(wanted).ok_or_else(|| {
            ToolError::NotFound(format!(
                "there is no department {wanted:?}; the departments are: {}. Only these can be reached",
                self.directory().join(", ")
            ))
        })?;
        let schedule =
            Schedule::of_department(&self.business, &department.name).ok_or_else(|| {
                ToolError::NotFound(format!("department {:?} has no schedule", department.name))
            })?;
        let local = self.tz.from_utc_datetime(&now.naive_utc()).naive_local();
        if schedule.open_span(local).is_none() {
            let reopens = match schedule.next_opening(local) {
                Some(t) if t.date() == local.date() => {
                    format!("it opens again today at {}", t.format("%H:%M"))
                }
                Some(t) => format!(
                    "it opens again {} {} at {}",
                    weekday_name(t.weekday()),
                    t.format("%Y-%m-%d"),
                    t.format("%H:%M")
                ),
                None => "it has no opening hours in the coming weeks".to_string(),
            };
            return Err(ToolError::Unavailable(format!(
                "{} is closed now ({reopens}). Do not transfer: tell the caller, and offer to take a message with take_message",
                department.name
            )));
        }
        Ok(ToolOutput {
            output: json!({
                "ok": true,
                "department": department.name,
                "next": "Say one short line such as \"Connecting you now\" and nothing else; the call is put through when you finish speaking."
            }),
            effect: ToolEffect::Transfer(crate::business::transfer_to(department)),
        })
    }
}

impl Tool for TransferCall {
    fn name(&self) -> &'static str {
        "transfer_call"
    }

    fn description(&self) -> &'static str {
        "Put the caller through to a person or department of the practice's directory. Only the \
         listed departments can be reached; never promise a transfer elsewhere. If the department \
         is closed, the result says so: tell the caller and offer to take a message instead."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "department": {
                    "type": "string",
                    "description": "The department or person to reach",
                    "enum": self.directory()
                }
            },
            "required": ["department"],
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        let result = self.decide(&args, ctx.now);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSources};
    use chrono::Utc;

    fn tool() -> TransferCall {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let c = Config::load_with_env(&ConfigSources::in_dir(&dir), &[]).unwrap();
        TransferCall::new(c.business).unwrap()
    }

    fn utc(s: &str) -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn open_department_is_put_through() {
        // Monday 2026-11-23 10:00 in New York: Billing (09:00-16:00) is open.
        let out = tool()
            .decide(
                &json!({"department": "billing"}),
                utc("2026-11-23T15:00:00Z"),
            )
            .unwrap();
        match out.effect {
            ToolEffect::Transfer(t) => {
                assert_eq!(t.department, "Billing");
                assert_eq!(t.number, "+15551230200");
            }
            other => panic!("no transfer: {other:?}"),
        }
        assert!(out.output["next"]
            .as_str()
            .unwrap()
            .contains("Connecting you now"));
    }

    #[test]
    fn closed_department_is_not_dialled() {
        // Tuesday 10:00 New York: the practice is open, Billing is not.
        let err = tool()
            .decide(
                &json!({"department": "Billing"}),
                utc("2026-11-24T15:00:00Z"),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ToolError::Unavailable(_)), "{text}");
        assert!(text.contains("Billing is closed now"), "{text}");
        assert!(text.contains("Wednesday 2026-11-25 at 09:00"), "{text}");
        assert!(text.contains("take_message"), "{text}");

        // Front desk follows the business hours: 12:30 is the lunch break,
        // and the holiday closes it all day.
        let err = tool()
            .decide(
                &json!({"department": "front desk"}),
                utc("2026-11-23T17:30:00Z"),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("opens again today at 13:00"),
            "{err}"
        );
        let err = tool()
            .decide(
                &json!({"department": "front desk"}),
                utc("2026-12-25T15:00:00Z"),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("Monday 2026-12-28 at 08:00"),
            "{err}"
        );
    }

    #[test]
    fn only_the_directory_is_reachable() {
        let now = utc("2026-11-23T15:00:00Z");
        let err = tool()
            .decide(&json!({"department": "+15559998888"}), now)
            .unwrap_err();
        assert!(matches!(err, ToolError::NotFound(_)), "{err}");
        assert!(err.to_string().contains("Front desk, Billing"), "{err}");
        for bad in [
            json!({}),
            json!({"department": ""}),
            json!({"department": 7}),
        ] {
            let err = tool().decide(&bad, now).unwrap_err();
            assert!(
                matches!(err, ToolError::InvalidArguments(_)),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn schema_lists_the_directory() {
        let p = tool().parameters();
        assert_eq!(
            p["properties"]["department"]["enum"],
            json!(["Front desk", "Billing"])
        );
    }
}
