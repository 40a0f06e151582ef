//! `take_message`: the caller leaves a message for the practice. Every
//! argument is checked before anything is written, then the message is
//! stored and the staff notification queued in the outbox.

use serde_json::{json, Value};

use super::caller::{business_is_nanp, caller_number, normalize_phone};
use super::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::notify::{notify, NotifyEvent};
use crate::store::NewMessage;

/// Limits keep a rambling transcript from becoming an unreadable email or an
/// SMS that is split into a dozen parts.
const MAX_NAME: usize = 100;
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 2000;

pub struct TakeMessage;

/// A validated message, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Draft {
    caller_name: String,
    callback_number: String,
    subject: String,
    body: String,
    urgent: bool,
}

impl Draft {
    fn urgency(&self) -> &'static str {
        if self.urgent {
            "urgent"
        } else {
            "normal"
        }
    }
}

fn text(args: &Value, key: &str, max: usize) -> Result<String, ToolError> {
    let value = opt_str(args, key)?.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(ToolError::InvalidArguments(format!(
            "{key} is missing or empty; ask the caller for it"
        )));
    }
    let len = value.chars().count();
    if len > max {
        return Err(ToolError::InvalidArguments(format!(
            "{key} is {len} characters; keep it under {max} by summarising"
        )));
    }
    Ok(value.to_string())
}

fn draft(args: &Value, ctx: &ToolContext) -> Result<Draft, ToolError> {
    let caller_name = text(args, "caller_name", MAX_NAME)?;
    let subject = text(args, "subject", MAX_SUBJECT)?;
    let body = text(args, "body", MAX_BODY)?;
    let urgent = match opt_str(args, "urgency")?.map(|u| u.trim().to_ascii_lowercase()) {
        None => false,
        Some(u) if u.is_empty() || u == "normal" => false,
        Some(u) if u == "urgent" => true,
        Some(u) => {
            return Err(ToolError::InvalidArguments(format!(
                "urgency must be \"normal\" or \"urgent\", got {u:?}"
            )))
        }
    };
    let nanp = business_is_nanp(&ctx.config);
    let callback_number = match opt_str(args, "callback_number")?.map(str::trim) {
        Some(n) if !n.is_empty() => normalize_phone(n, nanp).ok_or_else(|| {
            ToolError::InvalidArguments(format!(
                "callback_number {n:?} is not a phone number; ask the caller to repeat it, digit by digit"
            ))
        })?,
        _ => caller_number(&ctx.caller, nanp).ok_or_else(|| {
            ToolError::InvalidArguments(
                "the caller's number is withheld, so callback_number is needed; ask the caller for it"
                    .into(),
            )
        })?,
    };
    Ok(Draft {
        caller_name,
        callback_number,
        subject,
        body,
        urgent,
    })
}

/// The number messages are filed under: the business's own, else the one
/// the caller dialled.
pub fn business_number(ctx: &ToolContext) -> String {
    let own = &ctx.config.business.business.phone;
    if own.is_empty() {
        ctx.called.clone()
    } else {
        own.clone()
    }
}

impl Tool for TakeMessage {
    fn name(&self) -> &'static str {
        "take_message"
    }

    fn description(&self) -> &'static str {
        "Take a message for the practice's staff. First collect the caller's name, what it is about, \
         and the message; confirm the callback number (it defaults to the number they are calling \
         from). Mark it urgent only if the caller says it cannot wait. Read the details back after \
         it is saved."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "caller_name": {"type": "string", "description": "The caller's full name."},
                "callback_number": {
                    "type": "string",
                    "description": "Where to call back, E.164 like +15551234567. Leave out to use the caller ID."
                },
                "subject": {"type": "string", "description": "What the message is about, in a few words."},
                "body": {"type": "string", "description": "The message itself, in the caller's words."},
                "urgency": {"type": "string", "enum": ["normal", "urgent"], "description": "Defaults to normal."}
            },
            "required": ["caller_name", "subject", "body"],
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        Box::pin(async move {
            let d = draft(&args, &ctx)?;
            // What is stored and sent to the staff is redacted; the model
            // heard it all already and gets its own words back.
            let r = crate::privacy::redactor(&ctx.config);
            let topic = crate::privacy::Topic::of(&d.body);
            let subject = r.text(&d.subject, topic).into_owned();
            let body = r.text(&d.body, topic).into_owned();
            let id = ctx
                .store
                .add_message(NewMessage {
                    call_sid: Some(ctx.call_sid.clone()).filter(|s| !s.is_empty()),
                    business_number: business_number(&ctx),
                    caller_name: d.caller_name.clone(),
                    callback_number: d.callback_number.clone(),
                    subject: subject.clone(),
                    body: body.clone(),
                    urgency: d.urgency().to_string(),
                })
                .await
                .map_err(|e| {
                    ToolError::Unavailable(format!(
                        "the message could not be saved ({e}); apologise and ask them to call back later"
                    ))
                })?;
            let event = NotifyEvent::MessageTaken {
                call_sid: Some(ctx.call_sid.clone()).filter(|s| !s.is_empty()),
                caller_name: d.caller_name.clone(),
                callback_number: d.callback_number.clone(),
                subject,
                body,
                urgency: d.urgency().to_string(),
            };
            let key = format!("message:{}:{id}", ctx.call_sid);
            // The message is saved either way; staff find it in the inbox
            // even when the notification could not be queued.
            if let Err(e) = notify(&ctx.store, &ctx.config, &event, &key).await {
                tracing::error!(call_sid = %ctx.call_sid, message_id = id, error = %e, "message saved but its notification was not queued");
            }
            let next = if d.urgent {
                "Tell the caller the message is saved and flagged urgent, read back the callback number, and say the team will call back as soon as possible."
            } else {
                "Tell the caller the message is saved, read back the callback number, and say the team will call back."
            };
            Ok(ToolOutput::data(json!({
                "ok": true,
                "message_id": id,
                "caller_name": d.caller_name,
                "callback_number": d.callback_number,
                "subject": d.subject,
                "urgency": d.urgency(),
                "next": next
            })))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::notify::{route, Notification};

    fn args() -> Value {
        json!({
            "caller_name": "Dana Whitfield",
            "subject": "Crown came off",
            "body": "My crown came off at lunch; can someone call me today?",
            "urgency": "urgent"
        })
    }

    fn notifying() -> Config {
        let mut c = Config::default();
        c.notifications.smtp_url = "smtp://127.0.0.1:2525?tls=none".into();
        c.notifications.email_to = vec!["desk@example.com".into()];
        c.notifications.sms_to = vec!["+15551239999".into()];
        c
    }

    #[tokio::test]
    async fn stores_and_queues_an_urgent_message() {
        let mut ctx = crate::tools::test_context().await;
        ctx.config = Arc::new(notifying());
        let out = TakeMessage.run(args(), ctx.clone()).await.unwrap().output;
        assert_eq!(out["ok"], true);
        assert_eq!(
            out["callback_number"], "+15550001111",
            "defaults to the caller ID"
        );
        assert_eq!(out["urgency"], "urgent");
        let id = out["message_id"].as_i64().unwrap();

        // Urgent: email and SMS were both queued under the message's key, so
        // queueing the same key again adds nothing.
        let event = NotifyEvent::MessageTaken {
            call_sid: Some(ctx.call_sid.clone()),
            caller_name: "Dana Whitfield".into(),
            callback_number: "+15550001111".into(),
            subject: "Crown came off".into(),
            body: "My crown came off at lunch; can someone call me today?".into(),
            urgency: "urgent".into(),
        };
        let routed = route(&ctx.config, &event);
        assert!(routed.iter().any(|n| matches!(n, Notification::Sms { .. })));
        for (i, n) in routed.iter().enumerate() {
            let key = format!("message:{}:{id}:{}:{i}", ctx.call_sid, n.kind());
            assert_eq!(
                ctx.store.enqueue_notification(n, Some(&key)).await.unwrap(),
                None,
                "{key} was not queued"
            );
        }
    }

    #[tokio::test]
    async fn normal_messages_are_not_texted() {
        let mut ctx = crate::tools::test_context().await;
        ctx.config = Arc::new(notifying());
        let mut a = args();
        a["urgency"] = json!("normal");
        a["callback_number"] = json!("(555) 222-3333");
        let out = TakeMessage.run(a, ctx.clone()).await.unwrap().output;
        assert_eq!(out["callback_number"], "+15552223333");
        let id = out["message_id"].as_i64().unwrap();
        let sms = Notification::Sms {
            to: "+15551239999".into(),
            body: "x".into(),
        };
        // No SMS went out for this message: its slot under the key is free.
        let key = format!("message:{}:{id}:sms:1", ctx.call_sid);
        assert!(ctx
            .store
            .enqueue_notification(&sms, Some(&key))
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn bad_arguments_store_nothing() {
        let ctx = crate::tools::test_context().await;
        let cases = [
            ("callback_number", json!("1".repeat(40))),
            ("callback_number", json!("call me")),
            ("body", json!("   ")),
            ("subject", json!("")),
            ("caller_name", json!(null)),
            ("body", json!("x".repeat(MAX_BODY + 1))),
            ("urgency", json!("whenever")),
            ("subject", json!(42)),
        ];
        for (key, value) in cases {
            let mut a = args();
            a[key] = value.clone();
            let err = TakeMessage.run(a, ctx.clone()).await.unwrap_err();
            assert!(
                matches!(err, ToolError::InvalidArguments(_)),
                "{key}={value}: {err}"
            );
            assert!(err.to_string().contains(key), "{err}");
        }
        // Nothing was written: the next message gets the first id.
        let out = TakeMessage.run(args(), ctx).await.unwrap().output;
        assert_eq!(out["message_id"], 1);
    }

    #[tokio::test]
    async fn withheld_caller_id_needs_a_number() {
        let mut ctx = crate::tools::test_context().await;
        for withheld in ["anonymous", "+266696687", ""] {
            ctx.caller = withheld.into();
            let err = TakeMessage.run(args(), ctx.clone()).await.unwrap_err();
            assert!(err.to_string().contains("callback_number"), "{err}");
        }
        let mut a = args();
        a["callback_number"] = json!("+442079460000");
        assert!(TakeMessage.run(a, ctx).await.is_ok());
    }
}
