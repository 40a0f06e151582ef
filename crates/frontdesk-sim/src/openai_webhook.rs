//! OpenAI's side of a SIP call's start: the signed `realtime.call.incoming`
//! webhook, built and signed the way OpenAI does (Standard Webhooks, the
//! same `frontdesk_wire` signer the engine verifies with, which an oracle
//! test checks against the official SDK). The REST answers and the
//! sideband socket are served by the model simulator (`model::sip_rest`).

use rand::Rng;
use serde_json::json;

/// One webhook delivery, kept so a test can send it again (a retry) or
/// tamper with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub body: String,
    pub signature: String,
}

/// A SIP INVITE's numbers, as OpenAI forwards them in `sip_headers`.
pub fn incoming_call(
    secret: &str,
    call_id: &str,
    from: &str,
    to: &str,
    timestamp: i64,
) -> Result<Delivery, frontdesk_wire::standard_webhooks::WebhookSignatureError> {
    let mut rng = rand::rng();
    let body = json!({
        "object": "event",
        "id": format!("evt_{:032x}", rng.random::<u128>()),
        "type": "realtime.call.incoming",
        "created_at": timestamp,
        "data": {
            "call_id": call_id,
            "sip_headers": [
                {"name": "From", "value": format!("\"Caller\" <sip:{from}@trunk.example.com>;tag=sim")},
                {"name": "To", "value": format!("<sip:{to}@sip.api.openai.com;transport=tls>")},
                {"name": "Call-ID", "value": format!("{:x}@trunk.example.com", rng.random::<u64>())},
            ],
            "sip_media_security": "srtp",
        },
    })
    .to_string();
    signed(secret, body, timestamp)
}

/// Any event body, signed with a fresh webhook id.
pub fn signed(
    secret: &str,
    body: String,
    timestamp: i64,
) -> Result<Delivery, frontdesk_wire::standard_webhooks::WebhookSignatureError> {
    let id = format!("wh_{:032x}", rand::rng().random::<u128>());
    let signature = frontdesk_wire::standard_webhooks::SigningKey::parse(secret)?.sign(
        &id,
        timestamp,
        body.as_bytes(),
    );
    Ok(Delivery {
        id,
        timestamp,
        body,
        signature,
    })
}

/// POSTs the delivery to `url` (the engine's `/openai/webhook`); the
/// status and body of the answer.
pub async fn post(url: &str, d: &Delivery) -> Result<(u16, String), reqwest::Error> {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", d.timestamp.to_string())
        .header("webhook-signature", &d.signature)
        .body(d.body.clone())
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}
