//! The few Twilio REST calls the receptionist makes (§5 of
//! `shared/protocols/twilio-voice.md`): redirecting or ending a live call,
//! sending an SMS and downloading a recording.

use std::time::Duration;

use serde::Deserialize;

use super::twiml::HttpMethod;

/// Production API host.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// Upper bound for one API request, so a stalled Twilio never stalls a call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Recordings can be several megabytes, so their download gets longer.
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(60);
const API_VERSION: &str = "2010-04-01";

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Twilio answered with an error document (or a non-2xx status).
    #[error("Twilio API error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: u32,
        message: String,
    },
    #[error("Twilio request timed out")]
    Timeout,
    #[error("Twilio request failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected Twilio response: {0}")]
    Decode(String),
    /// A SID that would not be a single path segment; rejected before sending.
    #[error("invalid Twilio SID {0:?}")]
    InvalidSid(String),
}

impl From<reqwest::Error> for RestError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(err)
        }
    }
}

/// Terminal status a live call can be moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatusUpdate {
    /// Hang up an in-progress call.
    Completed,
    /// Cancel a queued or ringing call.
    Canceled,
}

impl CallStatusUpdate {
    fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Canceled => "canceled",
        }
    }
}

/// What to do with a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// Replace the running TwiML at once.
    Twiml(String),
    /// Fetch new TwiML from a URL.
    Url {
        url: String,
        method: HttpMethod,
    },
    Status(CallStatusUpdate),
}

impl CallUpdate {
    fn form(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Twiml(twiml) => vec![("Twiml", twiml.as_str())],
            Self::Url { url, method } => vec![("Url", url.as_str()), ("Method", method.as_str())],
            Self::Status(status) => vec![("Status", status.as_str())],
        }
    }
}

/// Recording media formats Twilio serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    Wav,
    Mp3,
}

impl RecordingFormat {
    fn extension(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
        }
    }
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: Option<u32>,
    message: Option<String>,
    /// RFC 9457 documents from newer APIs carry `detail` instead of `message`.
    detail: Option<String>,
}

#[derive(Deserialize)]
struct MessageCreated {
    sid: String,
}

/// An authenticated Twilio REST client for one account.
#[derive(Clone)]
pub struct TwilioRest {
    base_url: String,
    account_sid: String,
    auth_token: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for TwilioRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioRest")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioRest {
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
    ) -> Result<Self, RestError> {
        // reqwest is built without a bundled rustls provider and panics without
        // one; installing ring here is a no-op when the binary already did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(RestError::Transport)?;
        Ok(Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            http,
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// Points the client at another host (a test double or a regional edge).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Overrides [`REQUEST_TIMEOUT`] for API calls; recordings get at least [`MEDIA_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// Redirects, replaces the TwiML of, or ends a live call.
    pub async fn update_call(&self, call_sid: &str, update: CallUpdate) -> Result<(), RestError> {
        let url = self.account_url(&format!("Calls/{}.json", path_sid(call_sid)?))?;
        self.post_form(&url, &update.form()).await.map(|_| ())
    }

    /// Sends an SMS; returns the new message's `SM…` sid.
    pub async fn send_sms(&self, to: &str, from: &str, body: &str) -> Result<String, RestError> {
        let url = self.account_url("Messages.json")?;
        let bytes = self
            .post_form(&url, &[("To", to), ("From", from), ("Body", body)])
            .await?;
        serde_json::from_slice::<MessageCreated>(&bytes)
            .map(|created| created.sid)
            .map_err(|err| RestError::Decode(format!("message response: {err}")))
    }

    /// Downloads a recording's audio.
    pub async fn fetch_recording(
        &self,
        recording_sid: &str,
        format: RecordingFormat,
    ) -> Result<bytes::Bytes, RestError> {
        let url = self.account_url(&format!(
            "Recordings/{}.{}",
            path_sid(recording_sid)?,
            format.extension()
        ))?;
        let request = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .timeout(MEDIA_TIMEOUT.max(self.timeout));
        read_success(request.send().await?).await
    }

    /// Deletes a recording (`DELETE …/Recordings/{sid}.json`, 204). A
    /// recording Twilio no longer has (404) counts as deleted: `Ok(false)`.
    pub async fn delete_recording(&self, recording_sid: &str) -> Result<bool, RestError> {
        let url = self.account_url(&format!("Recordings/{}.json", path_sid(recording_sid)?))?;
        let response = self
            .http
            .delete(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        read_success(response).await.map(|_| true)
    }

    fn account_url(&self, tail: &str) -> Result<String, RestError> {
        Ok(format!(
            "{}/{API_VERSION}/Accounts/{}/{tail}",
            self.base_url,
            path_sid(&self.account_sid)?
        ))
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<bytes::Bytes, RestError> {
        let request = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .form(form);
        read_success(request.send().await?).await
    }
}

/// SIDs go into URL paths, so anything but letters and digits is refused.
fn path_sid(sid: &str) -> Result<&str, RestError> {
    if !sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(sid)
    } else {
        Err(RestError::InvalidSid(sid.to_owned()))
    }
}

async fn read_success(response: reqwest::Response) -> Result<bytes::Bytes, RestError> {
    let status = response.status();
    let body = response.bytes().await?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(api_error(status, &body))
    }
}

/// Like the SDK: `code` and `message` from the error document, falling back to the HTTP status.
fn api_error(status: reqwest::StatusCode, body: &[u8]) -> RestError {
    let parsed = serde_json::from_slice::<ApiErrorBody>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|p| p.code)
        .unwrap_or(u32::from(status.as_u16()));
    let message = parsed
        .and_then(|p| p.message.or(p.detail))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("unknown error")
                    .to_owned()
            } else {
                text.chars().take(200).collect()
            }
        });
    RestError::Api {
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {

    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use base64::Engine as _;
    use parking_lot::Mutex;

    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "tok3n";

    #[derive(Debug, Clone)]
    struct Captured {
        method: String,
        path: String,
        authorization: Option<String>,
        accept: Option<String>,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    #[derive(Clone)]
    struct Canned {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
        delay: Duration,
    }

    struct State {
        captured: Mutex<Vec<Captured>>,
        reply: Canned,
    }

    async fn record(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        state.captured.lock().push(Captured {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            authorization: header("authorization"),
            accept: header("accept"),
            content_type: header("content-type"),
            body: body.to_vec(),
        });
        let reply = &state.reply;
        actix_rt::time::sleep(reply.delay).await;
        let status = actix_web::http::StatusCode::from_u16(reply.status).unwrap();
        HttpResponse::build(status)
            .content_type(reply.content_type)
            .body(reply.body.clone())
    }

    /// A local stand-in for api.twilio.com that records every request.
    struct FakeTwilio {
        state: web::Data<State>,
        handle: actix_web::dev::ServerHandle,
        base_url: String,
    }

    impl FakeTwilio {
        fn start(reply: Canned) -> Self {
            let state = web::Data::new(State {
                captured: Mutex::new(Vec::new()),
                reply,
            });
            let app_state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(app_state.clone())
                    .default_service(web::to(record))
            })
            .workers(1)
            .shutdown_timeout(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            let handle = server.handle();
            actix_rt::spawn(server);
            Self {
                state,
                handle,
                base_url: format!("http://{addr}/"),
            }
        }

        fn client(&self) -> TwilioRest {
            TwilioRest::new(ACCOUNT, TOKEN)
                .unwrap()
                .with_base_url(&self.base_url)
        }

        fn requests(&self) -> Vec<Captured> {
            self.state.captured.lock().clone()
        }

        async fn stop(self) {
            self.handle.stop(true).await;
        }
    }

    fn ok_json(body: &str) -> Canned {
        Canned {
            status: 200,
            content_type: "application/json",
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(body).unwrap()
    }

    fn expected_auth() -> String {
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
        format!("Basic {creds}")
    }

    fn assert_api_post(req: &Captured, path: &str) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, path);
        assert_eq!(req.authorization.as_deref(), Some(expected_auth().as_str()));
        assert_eq!(req.accept.as_deref(), Some("application/json"));
        assert_eq!(
            req.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[actix_rt::test]
    async fn update_call_variants() {
        let fake = FakeTwilio::start(ok_json(r#"{"sid":"CA1","status":"in-progress"}"#));
        let client = fake.client();
        let call = "CA0123456789abcdef0123456789abcdef";
        let twiml = r#"<Response><Say>Bye &amp; thanks</Say><Hangup/></Response>"#;
        client
            .update_call(call, CallUpdate::Twiml(twiml.to_owned()))
            .await
            .unwrap();
        client
            .update_call(
                call,
                CallUpdate::Url {
                    url: "https://app.example.com/next?x=1&y=2".to_owned(),
                    method: HttpMethod::Post,
                },
            )
            .await
            .unwrap();
        client
            .update_call(call, CallUpdate::Status(CallStatusUpdate::Completed))
            .await
            .unwrap();
        client
            .update_call(call, CallUpdate::Status(CallStatusUpdate::Canceled))
            .await
            .unwrap();

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 4);
        let path = format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call}.json");
        for req in &reqs {
            assert_api_post(req, &path);
        }
        assert_eq!(
            form(&reqs[0].body),
            vec![("Twiml".to_owned(), twiml.to_owned())]
        );
        assert_eq!(
            form(&reqs[1].body),
            vec![
                (
                    "Url".to_owned(),
                    "https://app.example.com/next?x=1&y=2".to_owned()
                ),
                ("Method".to_owned(), "POST".to_owned())
            ]
        );
        assert_eq!(reqs[2].body, b"Status=completed");
        assert_eq!(reqs[3].body, b"Status=canceled");
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn send_sms_returns_sid() {
        let fake = FakeTwilio::start(Canned {
            status: 201,
            content_type: "application/json",
            body: br#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","body":"Hi"}"#
                .to_vec(),
            delay: Duration::ZERO,
        });
        let sid = fake
            .client()
            .send_sms("+15552223333", "+15550001111", "Hi there, ü & co")
            .await
            .unwrap();
        assert_eq!(sid, "SM0123456789abcdef0123456789abcdef");
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        assert_api_post(
            &reqs[0],
            &format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json"),
        );
        assert_eq!(
            form(&reqs[0].body),
            vec![
                ("To".to_owned(), "+15552223333".to_owned()),
                ("From".to_owned(), "+15550001111".to_owned()),
                ("Body".to_owned(), "Hi there, ü & co".to_owned()),
            ]
        );
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn send_sms_without_sid_is_a_decode_error() {
        let fake = FakeTwilio::start(ok_json(r#"{"status":"queued"}"#));
        let err = fake.client().send_sms("+1", "+2", "x").await.unwrap_err();
        assert!(matches!(err, RestError::Decode(_)), "{err:?}");
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn delete_recording_204_is_deleted_404_already_gone_else_error() {
        let canned = |status| Canned {
            status,
            content_type: "application/json",
            body: if status == 204 {
                Vec::new()
            } else {
                br#"{"code":20404,"message":"not found"}"#.to_vec()
            },
            delay: Duration::ZERO,
        };
        let fake = FakeTwilio::start(canned(204));
        assert!(fake.client().delete_recording("RE1").await.unwrap());
        let reqs = fake.requests();
        assert_eq!(reqs[0].method, "DELETE");
        assert_eq!(
            reqs[0].path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE1.json")
        );
        assert_eq!(
            reqs[0].authorization.as_deref(),
            Some(expected_auth().as_str())
        );
        fake.stop().await;
        let fake = FakeTwilio::start(canned(404));
        assert!(!fake.client().delete_recording("RE1").await.unwrap());
        fake.stop().await;
        let fake = FakeTwilio::start(canned(500));
        assert!(matches!(
            fake.client().delete_recording("RE1").await,
            Err(RestError::Api { status: 500, .. })
        ));
        assert!(matches!(
            fake.client().delete_recording("../x").await,
            Err(RestError::InvalidSid(_))
        ));
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn fetch_recording_downloads_bytes() {
        let audio = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
        let fake = FakeTwilio::start(Canned {
            status: 200,
            content_type: "audio/x-wav",
            body: audio.clone(),
            delay: Duration::ZERO,
        });
        let client = fake.client();
        let got = client
            .fetch_recording("RE0123456789abcdef0123456789abcdef", RecordingFormat::Wav)
            .await
            .unwrap();
        assert_eq!(got.as_ref(), audio.as_slice());
        client
            .fetch_recording("RE1", RecordingFormat::Mp3)
            .await
            .unwrap();
        let reqs = fake.requests();
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(
            reqs[0].path,
            format!(
                "/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE0123456789abcdef0123456789abcdef.wav"
            )
        );
        assert_eq!(
            reqs[0].authorization.as_deref(),
            Some(expected_auth().as_str())
        );
        assert_eq!(
            reqs[1].path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE1.mp3")
        );
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn api_error_document_is_parsed() {
        let fake = FakeTwilio::start(Canned {
            status: 404,
            content_type: "application/json",
            body: br#"{"code":20404,"message":"The requested resource /2010-04-01/Accounts/AC/Calls/CA1.json was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#.to_vec(),
            delay: Duration::ZERO,
        });
        let err = fake
            .client()
            .update_call("CA1", CallUpdate::Status(CallStatusUpdate::Completed))
            .await
            .unwrap_err();
        match err {
            RestError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!((status, code), (404, 20404));
                assert!(message.starts_with("The requested resource"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn non_json_error_falls_back_to_http_status() {
        let fake = FakeTwilio::start(Canned {
            status: 503,
            content_type: "text/plain",
            body: Vec::new(),
            delay: Duration::ZERO,
        });
        let err = fake.client().send_sms("+1", "+2", "x").await.unwrap_err();
        match err {
            RestError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!((status, code), (503, 503));
                assert_eq!(message, "Service Unavailable");
            }
            other => panic!("unexpected {other:?}"),
        }
        fake.stop().await;
    }

    #[actix_rt::test]
    async fn transport_errors_and_bad_sids_are_distinct() {
        // Bind then drop a listener so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = TwilioRest::new(ACCOUNT, TOKEN)
            .unwrap()
            .with_base_url(format!("http://127.0.0.1:{port}"));
        let err = client.send_sms("+1", "+2", "x").await.unwrap_err();
        assert!(matches!(err, RestError::Transport(_)), "{err:?}");
        let err = client
            .update_call("../CA1", CallUpdate::Status(CallStatusUpdate::Completed))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RestError::InvalidSid(ref s) if s == "../CA1"),
            "{err:?}"
        );
        let err = client
            .fetch_recording("", RecordingFormat::Wav)
            .await
            .unwrap_err();
        assert!(matches!(err, RestError::InvalidSid(_)), "{err:?}");
    }

    #[actix_rt::test]
    async fn slow_twilio_times_out() {
        let fake = FakeTwilio::start(Canned {
            delay: Duration::from_secs(3),
            ..ok_json("{}")
        });
        let client = fake.client().with_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = client
            .update_call("CA1", CallUpdate::Status(CallStatusUpdate::Completed))
            .await
            .unwrap_err();
        assert!(matches!(err, RestError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        fake.stop().await;
    }

    #[test]
    fn debug_hides_token_and_base_url_is_normalised() {
        let client = TwilioRest::new(ACCOUNT, TOKEN)
            .unwrap()
            .with_base_url("http://x.example//");
        assert_eq!(client.base_url(), "http://x.example");
        assert!(!format!("{client:?}").contains(TOKEN));
        assert_eq!(
            TwilioRest::new(ACCOUNT, TOKEN).unwrap().base_url(),
            DEFAULT_BASE_URL
        );
    }

    #[test]
    fn api_error_reads_rfc9457_detail() {
        let err = api_error(
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"type":"https://x","title":"Bad","status":400,"code":21211,"detail":"Invalid 'To' Phone Number"}"#,
        );
        assert!(
            matches!(err, RestError::Api { status: 400, code: 21211, ref message } if message == "Invalid 'To' Phone Number")
        );
    }
}
