//! OpenAI's SIP connector. A SIP trunk sends the call to OpenAI, which
//! answers it and posts a signed `realtime.call.incoming` webhook; we accept
//! or reject it over REST, then control the call over a sideband Realtime
//! socket (`?call_id=`) and leave it with `refer` or `hangup`. The audio
//! never passes through us. Here: reading the webhook (`incoming`), OpenAI's
//! REST calls (`rest`) and the sideband URL; the HTTP handler lives in
//! `http::openai_webhook`, the call itself in the ordinary `CallActor`.

pub mod incoming;
pub mod rest;

pub use incoming::{parse_webhook, IncomingCall, IncomingError, WebhookEvent};
pub use rest::{OpenAiCalls, RestError};

/// The sideband socket of a SIP call: the Realtime URL with `call_id=` in
/// place of `model=` (the call's session already has its model).
pub fn sideband_url(realtime: &url::Url, call_id: &str) -> url::Url {
    let mut url = realtime.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "model" && k != "call_id")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("call_id", call_id);
    }
    url
}

/// SIP status codes of our refusals (`POST …/reject {"status_code"}`).
pub mod reject {
    /// The called number is not a business we serve.
    pub const UNKNOWN_NUMBER: u16 = 404;
    /// The caller is over the hourly call limit.
    pub const RATE_LIMITED: u16 = 486;
    /// This instance is draining: the trunk may try another route.
    pub const DRAINING: u16 = 503;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sideband_url_names_the_call_instead_of_the_model() {
        let base = url::Url::parse("wss://api.openai.com/v1/realtime?model=gpt-realtime").unwrap();
        assert_eq!(
            sideband_url(&base, "rtc_abc123").as_str(),
            "wss://api.openai.com/v1/realtime?call_id=rtc_abc123"
        );
    }
}
