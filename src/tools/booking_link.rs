//! `send_booking_link`: for a business without a calendar the receptionist
//! can book into (or when booking failed), its booking page is texted to the
//! caller. Only to the caller's own number (never a number the caller
//! dictates: no SMS pumping), never to a withheld number, and at most once
//! per call (the outbox key is the call). The text travels through the
//! durable outbox like every notification.

use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::config::business::is_e164;
use crate::logmask::mask_phone;
use crate::notify::sms::SmsChannel;
use crate::notify::Notification;

pub struct SendBookingLink;

async fn answer(ctx: ToolContext) -> Result<Value, ToolError> {
    let config = &ctx.config;
    let url = config.business.calendar.booking_url.trim();
    if url.is_empty() {
        return Err(ToolError::Unavailable(
            "this business has no booking page; offer to take a message".into(),
        ));
    }
    if !is_e164(&ctx.caller) {
        return Err(ToolError::InvalidArguments(
            "the caller's number is withheld, so no text can be sent; read the booking page \
             address out or offer to take a message"
                .into(),
        ));
    }
    if let Err(e) = SmsChannel::from_config(config) {
        tracing::warn!(call_sid = %crate::logmask::mask_id(&ctx.call_sid), error = %e, "booking link not sent");
        return Err(ToolError::Unavailable(
            "texting is not set up for this business; offer to take a message".into(),
        ));
    }
    let body = format!(
        "{}: book your appointment here: {url}",
        config.business.business.name
    );
    let sms = Notification::Sms {
        to: ctx.caller.clone(),
        body,
    };
    let key = format!("booking_link:{}", ctx.call_sid);
    match ctx.store.enqueue_notification(&sms, Some(&key)).await {
        Ok(Some(_)) => Ok(json!({
            "sent": true,
            "message": "The booking link is on its way by text to the number the caller is calling from.",
        })),
        Ok(None) => Ok(json!({
            "sent": false,
            "already_sent": true,
            "message": "The booking link was already texted during this call; it is not sent twice.",
        })),
        Err(e) => {
            tracing::warn!(call_sid = %crate::logmask::mask_id(&ctx.call_sid), to = %mask_phone(&ctx.caller), error = %e, "could not queue the booking link");
            Err(ToolError::Unavailable(
                "the text could not be sent right now; offer to take a message".into(),
            ))
        }
    }
}

impl Tool for SendBookingLink {
    fn name(&self) -> &'static str {
        "send_booking_link"
    }

    fn description(&self) -> &'static str {
        "Texts the business's online booking page to the phone the caller is calling from, so \
         they can pick a time themselves. Offer it when the caller wants an appointment and it \
         cannot be booked on this call; ask before sending. Sent at most once per call."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    fn run(&self, _args: Value, ctx: ToolContext) -> ToolFuture {
        Box::pin(async move { answer(ctx).await.map(ToolOutput::data) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_context;
    use std::sync::Arc;

    async fn ctx(url: &str) -> ToolContext {
        let mut ctx = test_context().await;
        let mut config = (*ctx.config).clone();
        config.business.calendar.booking_url = url.into();
        config.twilio.account_sid = "AC00000000000000000000000000000000".into();
        config.twilio.auth_token = Some("token".into());
        ctx.config = Arc::new(config);
        ctx
    }

    async fn queued(ctx: &ToolContext) -> Vec<Notification> {
        ctx.store
            .due_notifications(chrono::Utc::now() + chrono::Duration::hours(1), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.notification().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn texts_the_callers_own_number_once_per_call() {
        let ctx = ctx("https://harbor.example/book").await;
        let out = SendBookingLink.run(json!({}), ctx.clone()).await.unwrap();
        assert_eq!(out.output["sent"], true, "{}", out.output);
        let again = SendBookingLink.run(json!({}), ctx.clone()).await.unwrap();
        assert_eq!(again.output["already_sent"], true, "{}", again.output);
        let sent = queued(&ctx).await;
        assert_eq!(
            sent,
            vec![Notification::Sms {
                to: "+15550001111".into(),
                body: "Harbor Dental: book your appointment here: https://harbor.example/book"
                    .into()
            }]
        );
    }

    #[tokio::test]
    async fn never_to_a_withheld_number_nor_without_a_page_or_sms() {
        let mut withheld = ctx("https://harbor.example/book").await;
        withheld.caller = "anonymous".into();
        let e = SendBookingLink
            .run(json!({}), withheld.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ToolError::InvalidArguments(m) if m.contains("withheld")),
            "{e}"
        );
        assert!(queued(&withheld).await.is_empty());

        let none = ctx("").await;
        let e = SendBookingLink.run(json!({}), none).await.unwrap_err();
        assert!(
            matches!(&e, ToolError::Unavailable(m) if m.contains("no booking page")),
            "{e}"
        );

        let mut no_sms = ctx("https://harbor.example/book").await;
        let mut c = (*no_sms.config).clone();
        c.twilio.auth_token = None;
        no_sms.config = Arc::new(c);
        let e = SendBookingLink
            .run(json!({}), no_sms.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ToolError::Unavailable(m) if m.contains("not set up")),
            "{e}"
        );
        assert!(queued(&no_sms).await.is_empty());
    }
}
