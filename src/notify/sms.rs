//! Text messages through Twilio Messages, sent from the business's own
//! number with the account in `config.twilio`.

use super::worker::SendError;
use crate::config::Config;
use crate::config::Secret;
use crate::logmask::mask_phone;
use crate::twilio::rest::{RestError, TwilioRest};

#[derive(Debug, Clone)]
pub struct SmsChannel {
    rest: TwilioRest,
    from: String,
}

impl SmsChannel {
    /// Fails (permanently) without a Twilio account, auth token or business number.
    pub fn from_config(config: &Config) -> Result<Self, SendError> {
        let t = &config.twilio;
        let missing = if t.account_sid.trim().is_empty() {
            Some("twilio.account_sid (TWILIO_ACCOUNT_SID)")
        } else if t.auth_token.as_ref().is_none_or(Secret::is_empty) {
            Some("the auth token (TWILIO_AUTH_TOKEN)")
        } else if config.business.business.phone.trim().is_empty() {
            Some("business.phone (the number texts are sent from)")
        } else {
            None
        };
        if let Some(what) = missing {
            return Err(SendError::permanent(format!(
                "SMS is not configured: {what} is not set"
            )));
        }
        let rest = TwilioRest::new(
            t.account_sid.trim(),
            t.auth_token
                .as_ref()
                .map(Secret::expose)
                .unwrap_or_default(),
        )
        .map_err(|e| SendError::permanent(format!("Twilio client: {e}")))?
        .with_base_url(&t.rest_base_url);
        Ok(SmsChannel {
            rest,
            from: config.business.business.phone.trim().to_string(),
        })
    }

    /// Sends `body` to `to`; returns the message SID.
    pub async fn send(&self, to: &str, body: &str) -> Result<String, SendError> {
        self.rest.send_sms(to, &self.from, body).await.map_err(|e| {
            // Twilio repeats the number in some error messages.
            let message = format!("Twilio Messages: {e}").replace(to, &mask_phone(to));
            match e {
                RestError::Api { status, .. } if status == 429 || status >= 500 => {
                    SendError::transient(message)
                }
                RestError::Api { .. } | RestError::InvalidSid(_) | RestError::Decode(_) => {
                    SendError::permanent(message)
                }
                RestError::Timeout | RestError::Transport(_) => SendError::transient(message),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_settings_are_named() {
        let mut c = Config::default();
        c.twilio.account_sid = String::new();
        let e = SmsChannel::from_config(&c).unwrap_err();
        assert!(e.permanent && e.message.contains("account_sid"), "{e}");
        c.twilio.account_sid = "AC123".into();
        c.twilio.auth_token = None;
        let e = SmsChannel::from_config(&c).unwrap_err();
        assert!(e.message.contains("TWILIO_AUTH_TOKEN"), "{e}");
        c.twilio.auth_token = Some("tok".into());
        c.business.business.phone = String::new();
        let e = SmsChannel::from_config(&c).unwrap_err();
        assert!(e.message.contains("business.phone"), "{e}");
        c.business.business.phone = "+15550001111".into();
        assert!(SmsChannel::from_config(&c).is_ok());
    }
}
