//! The webhook OpenAI posts for a SIP call (`realtime.call.incoming`), read
//! after its signature was checked: the call id to pass back unchanged, and
//! the caller and called numbers from the INVITE's `From` and `To` headers
//! (untrusted text: only a user part that reads as a phone number is used).

use serde::Deserialize;

use crate::business::phone::normalize_phone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingError {
    #[error("the webhook body is not a JSON event: {0}")]
    NotJson(String),
    #[error("realtime.call.incoming without a usable data.call_id")]
    BadCallId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// `data.call_id` (`rtc_…`); also the call's id in our records.
    pub call_id: String,
    /// The caller's number as E.164, or the `From` user part as sent when
    /// it is not a number (a withheld caller ID); empty when absent.
    pub from: String,
    /// The called number as E.164; `None` when `To` names no number.
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    Incoming(IncomingCall),
    /// Another event type: acknowledged and logged.
    Other {
        kind: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    sip_headers: Vec<SipHeader>,
}

#[derive(Deserialize)]
struct SipHeader {
    name: String,
    value: String,
}

/// Call ids go into REST paths and logs: only what OpenAI's look like.
pub fn is_call_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn parse_webhook(body: &[u8], nanp: bool) -> Result<WebhookEvent, IncomingError> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| IncomingError::NotJson(e.to_string()))?;
    if env.kind != "realtime.call.incoming" {
        return Ok(WebhookEvent::Other { kind: env.kind });
    }
    let data = env.data.ok_or(IncomingError::BadCallId)?;
    let call_id = data
        .call_id
        .filter(|id| is_call_id(id))
        .ok_or(IncomingError::BadCallId)?;
    // The first of each header counts (duplicates are preserved by OpenAI).
    let header = |name: &str| {
        data.sip_headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| uri_user(&h.value))
    };
    let from_user = header("From").unwrap_or_default();
    let from = normalize_phone(&from_user, nanp).unwrap_or_else(|| {
        from_user
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect()
    });
    let to = header("To").and_then(|u| normalize_phone(&u, nanp));
    Ok(WebhookEvent::Incoming(IncomingCall { call_id, from, to }))
}

/// The user part of a SIP name-addr or addr-spec: `"Ann" <sip:+1415@host;x>;tag=1`,
/// `sip:+1415@host`, `<tel:+1415;phone-context=x>`.
pub fn uri_user(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.trim().split(';').next().unwrap_or(""),
    };
    let uri = uri.trim();
    let rest = ["sip:", "sips:", "tel:"].iter().find_map(|s| {
        uri.get(..s.len())
            .filter(|p| p.eq_ignore_ascii_case(s))
            .map(|_| &uri[s.len()..])
    })?;
    let user = rest.split('@').next().unwrap_or("");
    let user = user.split(';').next().unwrap_or("");
    (!user.is_empty()).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"object":"event","id":"evt_685343a1381c819085d44c354e1b330e","type":"realtime.call.incoming","created_at":1750287018,"data":{"call_id":"rtc_abc123","sip_headers":[{"name":"From","value":"sip:+14155550123@sip.example.com"},{"name":"To","value":"sip:+18005550100@sip.example.com"},{"name":"Call-ID","value":"03782086-4ce9-44bf-8b0d-4e303d2cc590"}],"sip_media_security":"srtp"}}"#;

    #[test]
    fn the_protocol_example_reads_as_a_call() {
        assert_eq!(
            parse_webhook(EXAMPLE.as_bytes(), true),
            Ok(WebhookEvent::Incoming(IncomingCall {
                call_id: "rtc_abc123".into(),
                from: "+14155550123".into(),
                to: Some("+18005550100".into()),
            }))
        );
    }

    #[test]
    fn sip_addresses_of_every_shape_give_their_user_part() {
        assert_eq!(
            uri_user("\"Ann\" <sip:+1 (415) 555-0123@h;user=phone>;tag=9").as_deref(),
            Some("+1 (415) 555-0123")
        );
        assert_eq!(
            uri_user("<tel:+14155550123;phone-context=x>").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(uri_user("SIP:4155550123@h").as_deref(), Some("4155550123"));
        assert_eq!(uri_user("sip:@h"), None);
        assert_eq!(uri_user("mailto:x@y"), None);
        assert_eq!(uri_user(""), None);
    }

    #[test]
    fn malformed_and_other_events_are_told_apart() {
        assert!(matches!(
            parse_webhook(b"{", true),
            Err(IncomingError::NotJson(_))
        ));
        assert_eq!(
            parse_webhook(br#"{"type":"response.completed","data":{}}"#, true),
            Ok(WebhookEvent::Other {
                kind: "response.completed".into()
            })
        );
        let bad_id = r#"{"type":"realtime.call.incoming","data":{"call_id":"../x y"}}"#;
        assert_eq!(
            parse_webhook(bad_id.as_bytes(), true),
            Err(IncomingError::BadCallId)
        );
        let no_to = r#"{"type":"realtime.call.incoming","data":{"call_id":"rtc_1","sip_headers":[{"name":"To","value":"sip:reception@pbx"}]}}"#;
        let Ok(WebhookEvent::Incoming(c)) = parse_webhook(no_to.as_bytes(), true) else {
            panic!("not a call");
        };
        assert_eq!(c.to, None);
        assert_eq!(c.from, "");
    }
}
