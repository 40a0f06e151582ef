//! Notifications: what the business hears about (messages, voicemails,
//! bookings) and how. Events are turned into notifications per channel and
//! put in the durable outbox (a table); the notifier worker drains it.

pub mod deliveries;
pub mod email;
pub mod outbox;
pub mod slack;
pub mod sms;
pub mod webhook;
pub mod worker;

use crate::config::Config;
pub use crate::store::Notification;
use crate::store::{Store, StoreError};

/// Something the business should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    MessageTaken {
        call_sid: Option<String>,
        caller_name: String,
        callback_number: String,
        subject: String,
        body: String,
        /// `normal` or `urgent`.
        urgency: String,
    },
    Voicemail {
        call_sid: String,
        from: String,
        department: Option<String>,
        duration_secs: i32,
        transcript: Option<String>,
        recording_url: String,
    },
    /// A confirmation to the caller.
    AppointmentBooked {
        to: String,
        name: String,
        service: String,
        when: String,
    },
    AppointmentCancelled {
        to: String,
        name: String,
        when: String,
    },
}

/// The notifications an event calls for, by configuration.
pub fn route(config: &Config, event: &NotifyEvent) -> Vec<Notification> {
    let n = &config.notifications;
    let business = &config.business.business.name;
    let staff_email = |subject: String, body: String| {
        (!n.smtp_url.is_empty() && !n.email_to.is_empty()).then(|| Notification::Email {
            to: n.email_to.clone(),
            subject,
            body,
        })
    };
    let slack = |text: String| {
        n.slack_webhook_url
            .as_ref()
            .map(|_| Notification::Slack { text })
    };
    let mut out = Vec::new();
    match event {
        NotifyEvent::MessageTaken {
            caller_name,
            callback_number,
            subject,
            body,
            urgency,
            ..
        } => {
            let urgent = urgency.eq_ignore_ascii_case("urgent");
            let tag = if urgent { "URGENT message" } else { "Message" };
            let text = format!(
                "{tag} for {business} from {caller_name} ({callback_number})\nSubject: {subject}\n\n{body}"
            );
            out.extend(staff_email(
                format!("{tag} from {caller_name}: {subject}"),
                text.clone(),
            ));
            out.extend(slack(text));
            if urgent {
                let sms = format!("{tag} from {caller_name} {callback_number}: {subject}");
                out.extend(n.sms_to.iter().map(|to| Notification::Sms {
                    to: to.clone(),
                    body: sms.clone(),
                }));
            }
        }
        NotifyEvent::Voicemail {
            from,
            department,
            duration_secs,
            transcript,
            recording_url,
            ..
        } => {
            let for_whom = department
                .as_deref()
                .map(|d| format!(" for {d}"))
                .unwrap_or_default();
            let text = format!(
                "Voicemail{for_whom} from {from} ({duration_secs} s)\n\n{}\n\nRecording: {recording_url}",
                transcript.as_deref().unwrap_or("(no transcript)")
            );
            out.extend(staff_email(
                format!("Voicemail{for_whom} from {from}"),
                text.clone(),
            ));
            out.extend(slack(text));
        }
        NotifyEvent::AppointmentBooked {
            to,
            name,
            service,
            when,
        } => {
            if config.bookings.sms_confirmation {
                out.push(Notification::Sms {
                    to: to.clone(),
                    body: format!("{business}: {name}, your {service} is booked for {when}. Reply or call us to change it."),
                });
            }
        }
        NotifyEvent::AppointmentCancelled { to, name, when } => {
            if config.bookings.sms_confirmation {
                out.push(Notification::Sms {
                    to: to.clone(),
                    body: format!("{business}: {name}, your appointment on {when} is cancelled."),
                });
            }
        }
    }
    out
}

/// Routes `event` and puts its notifications in the outbox. `key` makes it
/// idempotent: the same key never queues the same channel twice (a retried
/// webhook or tool). Returns how many were queued.
pub async fn notify(
    store: &Store,
    config: &Config,
    event: &NotifyEvent,
    key: &str,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    let redactor = crate::privacy::redactor(config);
    if let Some(e) = webhook_event(&redactor, event) {
        // `key` names this one message or voicemail.
        let e = e.discriminated(key);
        queued += crate::integrations::events::emit(store, config, &e).await?;
    }
    for (i, n) in route(config, event).into_iter().enumerate() {
        let n = redact(&redactor, n);
        let k = format!("{key}:{}:{i}", n.kind());
        if store.enqueue_notification(&n, Some(&k)).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// The event webhook a notification event stands for (`message.created`,
/// `voicemail.created`), its caller-spoken text redacted like the rest.
fn webhook_event(
    r: &crate::privacy::Redactor,
    event: &NotifyEvent,
) -> Option<crate::integrations::events::Event> {
    use crate::integrations::events::Event;
    let t = |s: &str| r.text(s, crate::privacy::Topic::default()).into_owned();
    let now = chrono::Utc::now();
    match event {
        NotifyEvent::MessageTaken {
            call_sid,
            caller_name,
            callback_number,
            subject,
            body,
            urgency,
        } => Some(Event::new(
            "message.created",
            call_sid.as_deref(),
            now,
            serde_json::json!({
                "caller_name": caller_name,
                "callback_number": callback_number,
                "subject": t(subject),
                "body": t(body),
                "urgency": urgency,
            }),
        )),
        NotifyEvent::Voicemail {
            call_sid,
            from,
            department,
            duration_secs,
            transcript,
            recording_url,
        } => Some(Event::new(
            "voicemail.created",
            Some(call_sid),
            now,
            serde_json::json!({
                "from": from,
                "department": department,
                "duration_secs": duration_secs,
                "transcript": transcript.as_deref().map(t),
                "recording_url": recording_url,
            }),
        )),
        NotifyEvent::AppointmentBooked { .. } | NotifyEvent::AppointmentCancelled { .. } => None,
    }
}

/// What a notification says, redacted; where it goes is kept.
fn redact(r: &crate::privacy::Redactor, n: Notification) -> Notification {
    let t = |s: String| r.text(&s, crate::privacy::Topic::default()).into_owned();
    match n {
        Notification::Email { to, subject, body } => Notification::Email {
            to,
            subject: t(subject),
            body: t(body),
        },
        Notification::Slack { text } => Notification::Slack { text: t(text) },
        Notification::Sms { to, body } => Notification::Sms { to, body: t(body) },
        // Built from redacted facts by `integrations::events`; the signed
        // body must stay byte for byte what it is.
        w @ Notification::Webhook { .. } => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::default();
        c.notifications.smtp_url = "smtp://127.0.0.1:2525?tls=none".into();
        c.notifications.email_to = vec!["desk@example.com".into()];
        c.notifications.slack_webhook_url = Some("http://127.0.0.1:9/hook".into());
        c.notifications.sms_to = vec!["+15551239999".into()];
        c
    }

    #[test]
    fn urgent_messages_go_everywhere_normal_ones_skip_sms() {
        let msg = |urgency: &str| NotifyEvent::MessageTaken {
            call_sid: None,
            caller_name: "Dana".into(),
            callback_number: "+15005550006".into(),
            subject: "Crown".into(),
            body: "It fell out".into(),
            urgency: urgency.into(),
        };
        let kinds: Vec<_> = route(&config(), &msg("urgent"))
            .iter()
            .map(Notification::kind)
            .collect();
        assert_eq!(kinds, ["email", "slack", "sms"]);
        let kinds: Vec<_> = route(&config(), &msg("normal"))
            .iter()
            .map(Notification::kind)
            .collect();
        assert_eq!(kinds, ["email", "slack"]);
        assert!(
            route(&Config::default(), &msg("urgent")).is_empty(),
            "nothing configured, nothing sent"
        );
    }

    #[test]
    fn booking_confirmations_follow_the_setting() {
        let e = NotifyEvent::AppointmentBooked {
            to: "+1".into(),
            name: "Dana".into(),
            service: "Cleaning".into(),
            when: "Mon".into(),
        };
        let mut c = config();
        assert_eq!(route(&c, &e).len(), 1);
        c.bookings.sms_confirmation = false;
        assert!(route(&c, &e).is_empty());
    }

    #[test]
    fn notification_bodies_are_redacted_destinations_kept() {
        let r = crate::privacy::Redactor::new(crate::config::RedactionLevel::Standard);
        let n = redact(
            &r,
            Notification::Sms {
                to: "+15551239999".into(),
                body: "card 4242 4242 4242 4242".into(),
            },
        );
        assert_eq!(
            n,
            Notification::Sms {
                to: "+15551239999".into(),
                body: "card [card ••••4242]".into()
            }
        );
    }
}
