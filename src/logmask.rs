//! Phone numbers never reach the logs in full, nor do the headers and
//! bodies transport crates print at debug and trace.

/// Crates that print request headers (`Authorization`, Twilio signatures)
/// or bodies (phone numbers) at debug/trace: held at info whatever
/// `RUST_LOG` says, so even `RUST_LOG=trace` leaks neither.
const PINNED: &[&str] = &[
    "actix_http",
    "actix_server",
    "actix_web",
    "deadpool",
    "diesel",
    "h2",
    "hyper",
    "hyper_util",
    "lettre",
    "mio",
    "redis",
    "reqwest",
    "rustls",
    "tokio_postgres",
    "tokio_tungstenite",
    "tungstenite",
];

/// The log filter from `RUST_LOG` (default `info`), with the transport
/// crates pinned: the operator's directives for them are dropped.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let own: Vec<&str> = rust_log
        .unwrap_or("info")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let target = d.split(['=', '[']).next().unwrap_or_default();
            !PINNED
                .iter()
                .any(|p| target == *p || target.starts_with(&format!("{p}::")))
        })
        .collect();
    let pins = PINNED.iter().map(|p| format!("{p}=info"));
    let directives: Vec<String> = own.into_iter().map(str::to_owned).chain(pins).collect();
    tracing_subscriber::EnvFilter::try_new(directives.join(","))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// `+15551230000` → `+1555***0000`: enough to tell calls apart, not enough
/// to identify the caller. Only digits and `+` of the input are printed, so
/// a forged `From` cannot inject anything into a log line.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5.min(chars.len() - 4)].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// An identifier from outside (a CallSid that failed validation, say) made
/// safe for a log line: printable ASCII only, at most 40 characters.
pub fn mask_id(id: &str) -> String {
    let mut out: String = id
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect();
    if id.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_crates_stay_at_info_even_under_trace() {
        use tracing::Level;
        use tracing_subscriber::layer::SubscriberExt as _;
        for rust_log in [
            None,
            Some("trace"),
            Some("trace,hyper=trace,reqwest::connect=debug"),
        ] {
            let subscriber = tracing_subscriber::registry().with(log_filter(rust_log));
            tracing::subscriber::with_default(subscriber, || {
                assert!(!tracing::enabled!(target: "hyper::proto::h1", Level::DEBUG));
                assert!(!tracing::enabled!(target: "reqwest::connect", Level::DEBUG));
                assert!(!tracing::enabled!(target: "tungstenite::handshake", Level::TRACE));
                assert!(!tracing::enabled!(target: "actix_http::h1", Level::TRACE));
                assert!(tracing::enabled!(target: "hyper::proto::h1", Level::INFO));
                assert!(tracing::enabled!(target: "frontdesk::call", Level::INFO));
            });
        }
        let subscriber = tracing_subscriber::registry().with(log_filter(Some("trace")));
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::enabled!(target: "frontdesk::call", Level::TRACE));
        });
    }

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_url_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            mask_url_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask_phone("+15551230000"), "+1555***0000");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone(""), "");
        assert!(!mask_phone("+447700900123").contains("900"));
        assert_eq!(mask_phone("+1555\x1b[31m1230000\n"), "+1555***0000");
        assert_eq!(mask_id("CA12\u{7}\n<x>"), "CA12<x>");
    }
}
