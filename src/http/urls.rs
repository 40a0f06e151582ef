//! Our public URLs, as Twilio calls them (`PUBLIC_URL` + path): for the
//! TwiML we answer with and for checking the signatures Twilio computed.

#[derive(Clone, Debug)]
pub struct PublicUrls {
    /// Without a trailing slash.
    base: String,
}

impl PublicUrls {
    pub fn new(public_base: &str) -> Self {
        PublicUrls {
            base: public_base.trim_end_matches('/').to_string(),
        }
    }

    /// An absolute public URL for a path of ours.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `wss://…/twilio/stream` for the TwiML, from the public URL.
    pub fn stream(&self) -> String {
        let base = &self.base;
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_string()
        };
        format!("{ws}/twilio/stream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_the_stream_follow_the_public_url() {
        let u = PublicUrls::new("https://desk.example.com/");
        assert_eq!(
            u.url("/twilio/menu"),
            "https://desk.example.com/twilio/menu"
        );
        assert_eq!(u.stream(), "wss://desk.example.com/twilio/stream");
        assert_eq!(
            PublicUrls::new("http://127.0.0.1:8080").stream(),
            "ws://127.0.0.1:8080/twilio/stream"
        );
    }
}
