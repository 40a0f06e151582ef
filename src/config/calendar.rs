//! Which calendar a business books into (`[calendar]` in business.toml),
//! and the booking page sent to callers when it has none to book into.
//!
//! Every credential is a [`Secret`] read from the environment only
//! (`FRONTDESK__CALENDAR__CALDAV__PASSWORD`, ...), so no file, log line or
//! error carries it.

use serde::{Deserialize, Serialize};

use super::Secret;

/// The kinds of calendar the engine can book into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CalendarKind {
    /// The `appointments` table of the engine's own database.
    #[default]
    Builtin,
    /// A CalDAV collection (RFC 4791): Nextcloud, Fastmail, iCloud, Radicale.
    Caldav,
    /// Google Calendar API v3.
    Google,
    /// Microsoft 365 through Microsoft Graph.
    Microsoft,
    /// No bookable calendar: the booking tools are not offered (a
    /// `booking_url` can still be texted).
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    pub kind: CalendarKind,
    /// The business's own booking page, texted by `send_booking_link`;
    /// empty: the tool is not offered.
    pub booking_url: String,
    /// One request to the calendar provider must answer within this. A
    /// booking takes three requests (free/busy, write, re-check), and a
    /// tool has 4 s ([`crate::tools::DEFAULT_DEADLINE`]), hence at most
    /// [`MAX_TIMEOUT_MS`].
    pub timeout_ms: u64,
    pub caldav: CalDavConfig,
    pub google: GoogleConfig,
    pub microsoft: MicrosoftConfig,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            kind: CalendarKind::Builtin,
            booking_url: String::new(),
            timeout_ms: 1000,
            caldav: CalDavConfig::default(),
            google: GoogleConfig::default(),
            microsoft: MicrosoftConfig::default(),
        }
    }
}

/// `[calendar.caldav]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CalDavConfig {
    /// The calendar collection, e.g.
    /// `https://cloud.example.com/remote.php/dav/calendars/desk/appointments/`.
    pub url: String,
    pub username: String,
    /// Secret: `FRONTDESK__CALENDAR__CALDAV__PASSWORD` (an app password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

/// `[calendar.google]`: a service account (JWT bearer grant) or an OAuth
/// client with a refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    pub calendar_id: String,
    pub base_url: String,
    pub token_url: String,
    /// Service account: its `client_email`; the private key is the secret
    /// `FRONTDESK__CALENDAR__GOOGLE__PRIVATE_KEY` (PKCS#8 PEM, as in the
    /// downloaded key file).
    pub client_email: String,
    /// Refresh-token grant: the OAuth client id; the client secret and the
    /// refresh token are the secrets `FRONTDESK__CALENDAR__GOOGLE__CLIENT_SECRET`
    /// and `FRONTDESK__CALENDAR__GOOGLE__REFRESH_TOKEN`.
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            calendar_id: "primary".into(),
            base_url: "https://www.googleapis.com/calendar/v3".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            client_email: String::new(),
            client_id: String::new(),
            private_key: None,
            client_secret: None,
            refresh_token: None,
        }
    }
}

/// `[calendar.microsoft]`: an app registration with the `Calendars.ReadWrite`
/// application permission (client-credentials grant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicrosoftConfig {
    pub tenant_id: String,
    pub client_id: String,
    /// The mailbox whose calendar is booked (`desk@example.com` or its id).
    pub user: String,
    pub base_url: String,
    /// `{tenant}` is replaced by `tenant_id`.
    pub token_url: String,
    /// Secret: `FRONTDESK__CALENDAR__MICROSOFT__CLIENT_SECRET`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
}

impl Default for MicrosoftConfig {
    fn default() -> Self {
        MicrosoftConfig {
            tenant_id: String::new(),
            client_id: String::new(),
            user: String::new(),
            base_url: "https://graph.microsoft.com/v1.0".into(),
            token_url: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token".into(),
            client_secret: None,
        }
    }
}

/// Three requests of this length still fit in a tool's 4 s deadline.
pub const MAX_TIMEOUT_MS: u64 = 1300;

/// Keys under `[calendar]` that may only come from the environment.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("caldav", "password"),
    ("google", "private_key"),
    ("google", "client_secret"),
    ("google", "refresh_token"),
    ("microsoft", "client_secret"),
];

fn set(s: &Option<Secret>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}

fn url_ok(key: &str, value: &str) -> Result<(), String> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(format!(
            "calendar.{key} must be an http(s) URL, got {value:?}"
        )),
    }
}

impl CalendarConfig {
    /// Whether the booking tools have a calendar to book into.
    pub fn bookable(&self) -> bool {
        self.kind != CalendarKind::None
    }

    /// Everything the chosen kind needs is there (secrets only as "set").
    pub fn validate(&self) -> Result<(), String> {
        if !self.booking_url.is_empty() {
            url_ok("booking_url", &self.booking_url)?;
        }
        if !(100..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!(
                "calendar.timeout_ms must be 100..={MAX_TIMEOUT_MS}: a booking makes three \
                 requests and must answer within the tool's 4 s"
            ));
        }
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("calendar.kind = {:?} needs {what}", self.kind))
            }
        };
        match self.kind {
            CalendarKind::Builtin | CalendarKind::None => Ok(()),
            CalendarKind::Caldav => {
                let c = &self.caldav;
                url_ok("caldav.url", &c.url)?;
                need(!c.username.is_empty(), "calendar.caldav.username")?;
                need(
                    set(&c.password),
                    "the password FRONTDESK__CALENDAR__CALDAV__PASSWORD",
                )
            }
            CalendarKind::Google => {
                let g = &self.google;
                url_ok("google.base_url", &g.base_url)?;
                url_ok("google.token_url", &g.token_url)?;
                need(!g.calendar_id.is_empty(), "calendar.google.calendar_id")?;
                let service_account = !g.client_email.is_empty() && set(&g.private_key);
                let refresh =
                    !g.client_id.is_empty() && set(&g.client_secret) && set(&g.refresh_token);
                need(
                    service_account || refresh,
                    "a service account (client_email and FRONTDESK__CALENDAR__GOOGLE__PRIVATE_KEY) \
                     or an OAuth client (client_id, FRONTDESK__CALENDAR__GOOGLE__CLIENT_SECRET and \
                     FRONTDESK__CALENDAR__GOOGLE__REFRESH_TOKEN)",
                )
            }
            CalendarKind::Microsoft => {
                let m = &self.microsoft;
                url_ok("microsoft.base_url", &m.base_url)?;
                url_ok("microsoft.token_url", &m.token_url.replace("{tenant}", "t"))?;
                need(!m.tenant_id.is_empty(), "calendar.microsoft.tenant_id")?;
                need(!m.client_id.is_empty(), "calendar.microsoft.client_id")?;
                need(!m.user.is_empty(), "calendar.microsoft.user")?;
                need(
                    set(&m.client_secret),
                    "the secret FRONTDESK__CALENDAR__MICROSOFT__CLIENT_SECRET",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_builtin_calendar() {
        let c = CalendarConfig::default();
        assert_eq!(c.kind, CalendarKind::Builtin);
        assert!(c.bookable());
        c.validate().unwrap();
    }

    #[test]
    fn each_kind_names_what_it_is_missing() {
        let mut c = CalendarConfig {
            kind: CalendarKind::Caldav,
            ..CalendarConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("caldav.url"));
        c.caldav.url = "http://127.0.0.1:5232/desk/cal/".into();
        c.caldav.username = "desk".into();
        assert!(c.validate().unwrap_err().contains("CALDAV__PASSWORD"));
        c.caldav.password = Some("pw".into());
        c.validate().unwrap();

        c.kind = CalendarKind::Google;
        assert!(c.validate().unwrap_err().contains("service account"));
        c.google.client_id = "id".into();
        c.google.client_secret = Some("s".into());
        c.google.refresh_token = Some("r".into());
        c.validate().unwrap();

        c.kind = CalendarKind::Microsoft;
        assert!(c.validate().unwrap_err().contains("tenant_id"));
        c.microsoft.tenant_id = "t".into();
        c.microsoft.client_id = "c".into();
        c.microsoft.user = "desk@example.com".into();
        assert!(c.validate().unwrap_err().contains("CLIENT_SECRET"));
        c.microsoft.client_secret = Some("s".into());
        c.validate().unwrap();

        c.timeout_ms = 5000;
        assert!(c.validate().unwrap_err().contains("timeout_ms"));
        c.timeout_ms = 1000;
        c.booking_url = "not a url".into();
        assert!(c.validate().unwrap_err().contains("booking_url"));
    }

    #[test]
    fn secrets_never_print() {
        let mut c = CalendarConfig::default();
        c.caldav.password = Some("hunter2".into());
        c.google.private_key = Some("-----BEGIN PRIVATE KEY-----".into());
        let shown = format!("{c:?} {}", toml::to_string(&c).unwrap_or_default());
        assert!(
            !shown.contains("hunter2") && !shown.contains("BEGIN"),
            "{shown}"
        );
    }
}
