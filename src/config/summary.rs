//! `frontdesk check-config`: what a person needs to know about a loaded
//! configuration — the business, its hours and departments, what is wired up
//! and what is missing — in plain lines, with every secret shown only as
//! set or not set and no caller's number in full.

use std::fmt::Write as _;

use super::{AudioFormatSetting, Config, Secret, WeeklyHours};
use crate::logmask::{mask_phone, mask_url_password};

/// What is missing for a real deployment; each a sentence saying why it
/// matters. Empty when nothing is.
pub fn warnings(c: &Config) -> Vec<String> {
    let mut w = Vec::new();
    if unset(&c.twilio.auth_token) {
        w.push(if c.server.verify_signatures {
            "TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused (signatures cannot be checked)".to_owned()
        } else {
            "TWILIO_AUTH_TOKEN is not set and signature checks are off: anyone can drive calls (local experiments only)".to_owned()
        });
    }
    if c.twilio.account_sid.trim().is_empty() {
        w.push(
            "TWILIO_ACCOUNT_SID is not set: no transfers by REST, no SMS, no voicemail download"
                .to_owned(),
        );
    }
    if unset(&c.realtime.api_key) {
        w.push("OPENAI_API_KEY is not set: the model will refuse every session; callers get the keypad menu (/readyz says not ready)".to_owned());
    }
    let n = &c.notifications;
    let email = !n.smtp_url.trim().is_empty() && !n.email_to.is_empty();
    if !email && unset(&n.slack_webhook_url) && n.sms_to.is_empty() {
        w.push("no notification route (email, Slack or SMS): messages and voicemails are stored but nobody is told".to_owned());
    }
    if c.server.public_url.starts_with("http://localhost") {
        w.push("PUBLIC_URL is localhost: Twilio cannot reach this instance".to_owned());
    }
    w
}

fn unset(s: &Option<Secret>) -> bool {
    s.as_ref().is_none_or(Secret::is_empty)
}

fn set_or_not(s: &Option<Secret>) -> &'static str {
    if unset(s) {
        "not set"
    } else {
        "set"
    }
}

fn hours(h: &WeeklyHours) -> Vec<(&'static str, String)> {
    let days = [
        ("Monday", &h.monday),
        ("Tuesday", &h.tuesday),
        ("Wednesday", &h.wednesday),
        ("Thursday", &h.thursday),
        ("Friday", &h.friday),
        ("Saturday", &h.saturday),
        ("Sunday", &h.sunday),
    ];
    days.into_iter()
        .map(|(day, spans)| {
            let text = if spans.is_empty() {
                "closed".to_owned()
            } else {
                spans
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (day, text)
        })
        .collect()
}

/// The whole summary, ending with the warnings.
/// Which calendar bookings go into, without its credentials.
fn calendar(c: &super::calendar::CalendarConfig) -> String {
    use super::calendar::CalendarKind;
    let what = match c.kind {
        CalendarKind::Builtin => "built-in (the database)".to_owned(),
        CalendarKind::Caldav => format!(
            "CalDAV {} as {}, password {}",
            mask_url_password(&c.caldav.url),
            c.caldav.username,
            set_or_not(&c.caldav.password)
        ),
        CalendarKind::Google => format!(
            "Google {} at {}, {}",
            c.google.calendar_id,
            c.google.base_url,
            if c.google.client_email.is_empty() {
                "OAuth refresh token"
            } else {
                "service account"
            }
        ),
        CalendarKind::Microsoft => format!(
            "Microsoft 365 {} at {}, client secret {}",
            c.microsoft.user,
            c.microsoft.base_url,
            set_or_not(&c.microsoft.client_secret)
        ),
        CalendarKind::None => "none (no booking tools)".to_owned(),
    };
    if c.booking_url.is_empty() {
        what
    } else {
        format!("{what}; booking link {}", c.booking_url)
    }
}

pub fn summary(c: &Config) -> String {
    let b = &c.business;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Business     {} ({})",
        b.business.name, b.business.timezone
    );
    if !b.business.phone.is_empty() {
        let _ = writeln!(out, "Number       {}", b.business.phone);
    }
    let _ = writeln!(out, "Hours");
    for (day, text) in hours(&b.hours) {
        let _ = writeln!(out, "  {day:<10} {text}");
    }
    if !b.holidays.is_empty() {
        let _ = writeln!(out, "Holidays");
        for h in &b.holidays {
            let _ = writeln!(out, "  {}  {}", h.date, h.name);
        }
    }
    let _ = writeln!(out, "Departments");
    if b.departments.is_empty() {
        let _ = writeln!(out, "  none (transfers are not offered)");
    }
    for d in &b.departments {
        let operator = if d.name == b.business.operator {
            ", the operator"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<14} {}{}{}",
            d.name,
            mask_phone(&d.phone),
            if d.hours.is_some() { ", own hours" } else { "" },
            operator
        );
    }
    let _ = writeln!(
        out,
        "Services     {}",
        if b.services.is_empty() {
            "none (no bookings)".to_owned()
        } else {
            b.services
                .iter()
                .map(|s| format!("{} ({} min)", s.name, s.duration_min))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(out, "Calendar     {}", calendar(&b.calendar));
    let _ = writeln!(out, "Contacts     {}", b.contacts.len());
    let _ = writeln!(out);
    let _ = writeln!(out, "Public URL   {}", c.server.public_url);
    let _ = writeln!(
        out,
        "Model        {} at {} ({}), key {}",
        c.realtime.model,
        c.realtime.base_url,
        match c.realtime.audio_format {
            AudioFormatSetting::Pcmu => "G.711 passthrough",
            AudioFormatSetting::Pcm24k => "PCM 24 kHz",
        },
        set_or_not(&c.realtime.api_key)
    );
    let _ = writeln!(
        out,
        "SIP          OpenAI webhook secret {} ({}), fallback {}",
        set_or_not(&c.realtime.webhook_secret),
        if unset(&c.realtime.webhook_secret) {
            "connector off"
        } else {
            "POST /openai/webhook"
        },
        match c.realtime.sip_fallback_number.trim() {
            "" => "the operator".to_owned(),
            n => mask_phone(n),
        }
    );
    let _ = writeln!(
        out,
        "Twilio       account {}, auth token {}, signatures {}",
        if c.twilio.account_sid.is_empty() {
            "not set"
        } else {
            "set"
        },
        set_or_not(&c.twilio.auth_token),
        if c.server.verify_signatures {
            "checked"
        } else {
            "NOT checked"
        }
    );
    let _ = writeln!(
        out,
        "Database     {}",
        mask_url_password(&c.storage.database_url)
    );
    let _ = writeln!(
        out,
        "Sessions     {}",
        if c.storage.redis_url.is_empty() {
            "in memory (one instance)".to_owned()
        } else {
            mask_url_password(&c.storage.redis_url)
        }
    );
    let p = &c.business.privacy;
    let r = p.retention.resolve(c.storage.retention_days);
    let days = |d: u32| {
        if d == 0 {
            "kept".to_owned()
        } else {
            format!("{d} d")
        }
    };
    let _ = writeln!(
        out,
        "Privacy      redaction {:?}; kept: transcripts {}, recordings {}, voicemails {}, messages {}, calls {}",
        p.redaction,
        days(r.transcripts),
        days(r.recordings),
        days(r.voicemails),
        days(r.messages),
        days(r.call_metadata)
    );
    let n = &c.notifications;
    let _ = writeln!(
        out,
        "Notify       email {} ({} recipients), Slack {}, SMS to {} numbers",
        if n.smtp_url.trim().is_empty() {
            "off".to_owned()
        } else {
            mask_url_password(&n.smtp_url)
        },
        n.email_to.len(),
        set_or_not(&n.slack_webhook_url),
        n.sms_to.len()
    );
    let warnings = warnings(c);
    let _ = writeln!(out);
    if warnings.is_empty() {
        let _ = writeln!(out, "Nothing missing.");
    }
    for w in warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSources;

    fn repo_config(env: &[(&str, &str)]) -> Config {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(&ConfigSources::in_dir(&dir), &env).unwrap()
    }

    #[test]
    fn secrets_never_appear_and_missing_ones_are_warned_about() {
        let secrets = [
            ("OPENAI_API_KEY", "sk-live-abcdef123456"),
            ("TWILIO_AUTH_TOKEN", "twilio-token-987654"),
            ("FRONTDESK__NOTIFICATIONS__SMTP_PASSWORD", "hunter2-smtp"),
            (
                "FRONTDESK__NOTIFICATIONS__SLACK_WEBHOOK_URL",
                "https://hooks.example/T000/B000/XXXXsecret",
            ),
            ("DATABASE_URL", "postgres://fd:db-password-42@db/frontdesk"),
        ];
        let c = repo_config(&secrets);
        let text = summary(&c);
        let debug = format!("{c:?}");
        for (_, value) in secrets.iter().take(4) {
            assert!(!text.contains(value), "{value} in:\n{text}");
            assert!(!debug.contains(value), "{value} in Debug");
        }
        assert!(!text.contains("db-password-42"), "{text}");
        assert!(!debug.contains("db-password-42"), "{debug}");
        assert!(text.contains("Harbor Dental"), "{text}");
        assert!(text.contains("Monday"), "{text}");
        assert!(!text.contains("warning: OPENAI_API_KEY"), "{text}");

        let bare = summary(&repo_config(&[]));
        assert!(
            bare.contains("warning: TWILIO_AUTH_TOKEN is not set"),
            "{bare}"
        );
        assert!(
            bare.contains("warning: OPENAI_API_KEY is not set"),
            "{bare}"
        );
        assert!(bare.contains("warning: no notification route"), "{bare}");
    }
}
