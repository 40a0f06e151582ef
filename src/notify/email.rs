//! Email over SMTP with lettre. `notifications.smtp_url` picks the transport
//! security: `smtp://host[:587]` requires STARTTLS (the connection is dropped,
//! before any credentials or mail are sent, if the server cannot upgrade),
//! `smtps://host[:465]` is TLS from the first byte, and
//! `smtp://host[:25]?tls=none` is plain text, for a relay on the same host or
//! network only.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::worker::SendError;
use crate::config::NotificationsConfig;

/// How long one SMTP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS; refused if the server cannot.
    StartTls,
    /// Implicit TLS (SMTPS).
    Tls,
    /// No encryption at all.
    Plain,
}

/// Where and how to reach the SMTP server, from `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpEndpoint {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
}

impl std::fmt::Display for SmtpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.security {
            SmtpSecurity::StartTls => "STARTTLS",
            SmtpSecurity::Tls => "TLS",
            SmtpSecurity::Plain => "plain",
        };
        write!(f, "{}:{} ({how})", self.host, self.port)
    }
}

/// What is wrong with `notifications.smtp_url`. Never carries the URL
/// itself: it may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    #[error("notifications.smtp_url: {0}")]
    Unreadable(#[from] url::ParseError),
    #[error(
        "notifications.smtp_url must not carry credentials; set notifications.smtp_username \
         and FRONTDESK__NOTIFICATIONS__SMTP_PASSWORD"
    )]
    Credentials,
    #[error("notifications.smtp_url has no host")]
    NoHost,
    #[error("notifications.smtp_url: unknown parameter {0:?}")]
    UnknownParameter(String),
    #[error(
        "notifications.smtp_url: tls={tls} is not supported with {scheme}:// \
         (smtp:// takes tls=starttls or tls=none)"
    )]
    UnsupportedTls { tls: String, scheme: String },
    #[error("notifications.smtp_url must start with smtp:// or smtps://, not {0}://")]
    Scheme(String),
}

/// Reads `smtp://host[:port][?tls=starttls|none]` or `smtps://host[:port]`.
/// Credentials in the URL are refused: the password belongs in
/// `FRONTDESK__NOTIFICATIONS__SMTP_PASSWORD`, not in a config file.
pub fn parse_smtp_url(raw: &str) -> Result<SmtpEndpoint, SmtpUrlError> {
    let url = url::Url::parse(raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SmtpUrlError::Credentials);
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(SmtpUrlError::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" => tls = Some(value.to_ascii_lowercase()),
            other => return Err(SmtpUrlError::UnknownParameter(other.to_string())),
        }
    }
    let security = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("starttls" | "required")) => SmtpSecurity::StartTls,
        ("smtp", Some("none")) => SmtpSecurity::Plain,
        ("smtps", None | Some("tls")) => SmtpSecurity::Tls,
        ("smtp" | "smtps", Some(other)) => {
            return Err(SmtpUrlError::UnsupportedTls {
                tls: other.to_string(),
                scheme: url.scheme().to_string(),
            })
        }
        (scheme, _) => return Err(SmtpUrlError::Scheme(scheme.to_string())),
    };
    let default_port = match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Plain => 25,
    };
    Ok(SmtpEndpoint {
        host,
        port: url.port().unwrap_or(default_port),
        security,
    })
}

/// A configured SMTP sender; connections are pooled across sends.
#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    endpoint: SmtpEndpoint,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// Fails (permanently) when email is not configured or the settings are
    /// invalid. Must be called inside a tokio runtime (lettre's connection
    /// pool starts a cleanup task).
    pub fn from_config(n: &NotificationsConfig) -> Result<Self, SendError> {
        if n.smtp_url.trim().is_empty() {
            return Err(SendError::permanent(
                "email is not configured (notifications.smtp_url is empty)",
            ));
        }
        let endpoint =
            parse_smtp_url(n.smtp_url.trim()).map_err(|e| SendError::permanent(e.to_string()))?;
        let from: Mailbox = n.email_from.parse().map_err(|e| {
            SendError::permanent(format!(
                "notifications.email_from {:?} is not an address: {e}",
                n.email_from
            ))
        })?;
        // Installs ring for rustls if the binary has not yet; lettre would
        // otherwise build its own provider per connection.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls_params = || {
            TlsParameters::new(endpoint.host.clone())
                .map_err(|e| SendError::permanent(format!("SMTP TLS setup: {e}")))
        };
        let tls = match endpoint.security {
            SmtpSecurity::StartTls => Tls::Required(tls_params()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_params()?),
            SmtpSecurity::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&endpoint.host)
            .port(endpoint.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        if !n.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                n.smtp_username.clone(),
                n.smtp_password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            ));
        }
        Ok(EmailChannel {
            transport: builder.build(),
            from,
            endpoint,
        })
    }

    pub fn endpoint(&self) -> &SmtpEndpoint {
        &self.endpoint
    }

    /// Sends one plain-text email to every address in `to`.
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), SendError> {
        if to.is_empty() {
            return Err(SendError::permanent("email has no recipients"));
        }
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| {
                SendError::permanent(format!("recipient {address:?} is not an address: {e}"))
            })?;
            message = message.to(mailbox);
        }
        let message = message
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e))
    }

    /// 5xx replies and refusals to go ahead without the required encryption
    /// will not heal by themselves; everything else (refused connections,
    /// timeouts, 4xx) is worth another attempt.
    fn classify(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let text = e.to_string();
        let message = if text.contains("STARTTLS is not supported") {
            format!(
                "SMTP server {} does not offer STARTTLS, which smtp:// requires; use smtps:// \
                 or, for a trusted local relay only, ?tls=none",
                self.endpoint
            )
        } else {
            format!("SMTP {}: {text}", self.endpoint)
        };
        if e.is_permanent() || e.is_client() {
            SendError::permanent(message)
        } else {
            SendError::transient(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_url_security_and_default_ports() {
        let ep = |u: &str| parse_smtp_url(u).unwrap();
        assert_eq!(
            ep("smtp://mail.example.com"),
            SmtpEndpoint {
                host: "mail.example.com".into(),
                port: 587,
                security: SmtpSecurity::StartTls
            }
        );
        assert_eq!(ep("smtp://m:2525?tls=starttls").port, 2525);
        assert_eq!(ep("smtps://m").port, 465);
        assert_eq!(ep("smtps://m").security, SmtpSecurity::Tls);
        let plain = ep("smtp://127.0.0.1?tls=none");
        assert_eq!((plain.port, plain.security), (25, SmtpSecurity::Plain));
        assert_eq!(ep("smtp://[::1]:26?tls=NONE").host, "::1");
    }

    #[test]
    fn smtp_url_mistakes_are_named() {
        let err = |u: &str| parse_smtp_url(u).unwrap_err().to_string();
        assert!(err("http://m").contains("smtp://"));
        assert!(err("smtps://m?tls=none").contains("tls=none"));
        assert!(err("smtp://m?tls=maybe").contains("tls=maybe"));
        assert!(err("smtp://m?tsl=none").contains("tsl"));
        assert!(err("smtp://u:secret@m").contains("credentials"));
        assert!(!err("smtp://u:secret@m").contains("secret@"));
        assert!(err("not a url").contains("smtp_url"));
    }

    // Building the transport starts lettre's pool task, which needs a runtime.
    #[tokio::test]
    async fn unconfigured_or_invalid_settings_fail_permanently() {
        let mut n = NotificationsConfig::default();
        let e = EmailChannel::from_config(&n).unwrap_err();
        assert!(e.permanent && e.message.contains("not configured"), "{e}");
        n.smtp_url = "smtp://127.0.0.1:2525?tls=none".into();
        n.email_from = "not an address".into();
        let e = EmailChannel::from_config(&n).unwrap_err();
        assert!(e.permanent && e.message.contains("email_from"), "{e}");
        n.email_from = "Desk <desk@example.com>".into();
        let ch = EmailChannel::from_config(&n).unwrap();
        assert_eq!(ch.endpoint().to_string(), "127.0.0.1:2525 (plain)");
    }

    #[tokio::test]
    async fn debug_output_has_no_password() {
        let n = NotificationsConfig {
            smtp_url: "smtp://127.0.0.1:2525".into(),
            smtp_username: "u".into(),
            smtp_password: Some("hunter2".into()),
            ..NotificationsConfig::default()
        };
        let ch = EmailChannel::from_config(&n).unwrap();
        assert!(!format!("{ch:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn bad_recipients_fail_permanently_without_connecting() {
        let n = NotificationsConfig {
            // Nothing listens on port 9 here; a connection attempt would be transient.
            smtp_url: "smtp://127.0.0.1:9?tls=none".into(),
            ..NotificationsConfig::default()
        };
        let ch = EmailChannel::from_config(&n).unwrap();
        let e = ch.send(&[], "s", "b").await.unwrap_err();
        assert!(e.permanent, "{e}");
        let e = ch.send(&["nope".into()], "s", "b").await.unwrap_err();
        assert!(e.permanent && e.message.contains("nope"), "{e}");
        let e = ch
            .send(&["a@example.com".into()], "s", "b")
            .await
            .unwrap_err();
        assert!(!e.permanent, "a refused connection is worth retrying: {e}");
    }
}
