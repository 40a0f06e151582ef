//! The notifier against real services on loopback: a real SMTP server
//! (aiosmtpd, in the test venv), a local webhook receiver, the Twilio REST
//! stand-in. Every test runs on PostgreSQL and SQLite.
//!
//! aiosmtpd comes from PyPI into the venv `scripts/test.sh` sets up; by hand:
//!     target/pytools/bin/python -m pip install aiosmtpd==1.4.6

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::Value;

use crate::store_support::TestDb;
use frontdesk::config::{Config, ConfigSources};
use frontdesk::notify::outbox::{run_command, OutboxAction, OutboxCommandError};
use frontdesk::notify::worker::{Notifier, WorkerOptions};
use frontdesk::notify::{notify, Notification, NotifyEvent};
use frontdesk::store::Store;
use frontdesk_sim::twilio_rest::TwilioRestSim;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "sim-auth-token";
const BUSINESS_PHONE: &str = "+15550001111";
const SMTP_PASSWORD: &str = "pa55-w0rd-never-logged";

// ------------------------------------------------------------ SMTP server

const SMTP_SERVER_PY: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

port, out = int(sys.argv[1]), sys.argv[2]
creds = sys.argv[3] if len(sys.argv) > 3 else None

class Handler:
    async def handle_DATA(self, server, session, envelope):
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                "login": login,
            }) + "\n")
        return "250 Message accepted for delivery"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login + b":" + auth_data.password).decode() == creds
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

async def main():
    kw = {}
    if creds:
        kw = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), **kw), "127.0.0.1", port)
    await server.serve_forever()

asyncio.run(main())
"#;

fn python() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target/pytools/bin/python"));
    assert!(
        python.is_file(),
        "Python venv not found at {}: run scripts/test.sh or \
         scripts/pytools.sh (or set FRONTDESK_PYTHON)",
        python.display()
    );
    python
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1, killed on drop. It offers no
/// STARTTLS; with credentials it requires AUTH (over plain text, which only
/// a test may do).
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(port: u16, creds: Option<&str>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER_PY).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(dir.path().join("mail.jsonl"))
            .args(creds)
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().unwrap();
        let mut server = SmtpServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "the SMTP server exited ({status}): {}\nIs aiosmtpd installed in the venv? \
                     `{} -m pip install aiosmtpd==1.4.6` (scripts/test.sh does it)",
                    server.stderr(),
                    python().display()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "SMTP server did not listen: {}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("mail.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn wait_for_messages(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails arrived; server log: {}",
                got.len(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ------------------------------------------------------- webhook receiver

#[derive(Clone, Debug)]
struct Post {
    content_type: Option<String>,
    body: Value,
}

/// A Slack-style webhook receiver answering with a settable status.
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
    status: Arc<AtomicU16>,
    url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start() -> Receiver {
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (p, s) = (posts.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (p, s) = (p.clone(), s.clone());
            App::new().route(
                "/services/T1/B1/hook-secret",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let (p, s) = (p.clone(), s.clone());
                    async move {
                        p.lock().push(Post {
                            content_type: req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                        let code = s.load(Ordering::SeqCst);
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                            .body(if code == 200 { "ok" } else { "no_service" })
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver {
            posts,
            status,
            url: format!("http://{addr}/services/T1/B1/hook-secret"),
            handle,
        }
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().clone()
    }
}

// ----------------------------------------------------------------- helpers

async fn backends() -> [TestDb; 2] {
    [TestDb::postgres().await, TestDb::sqlite()]
}

fn fast() -> WorkerOptions {
    WorkerOptions {
        poll_interval: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(300),
        backoff_max: Duration::from_secs(2),
        send_timeout: Duration::from_secs(10),
        ..WorkerOptions::default()
    }
}

fn base_config() -> Config {
    let mut c = Config::default();
    c.notifications.email_from = "Frontdesk <frontdesk@example.com>".into();
    c.notifications.email_to = vec!["desk@example.com".into()];
    c.business.business.phone = BUSINESS_PHONE.into();
    c.twilio.account_sid = String::new();
    c
}

fn message_event(urgency: &str) -> NotifyEvent {
    NotifyEvent::MessageTaken {
        call_sid: Some("CA0123456789abcdef0123456789abcdef".into()),
        caller_name: "Dana Reyes".into(),
        callback_number: "+15557654321".into(),
        subject: "Crown came loose".into(),
        body: "It fell out at lunch; she can come in any afternoon.".into(),
        urgency: urgency.into(),
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Log lines written while the guard lives (this thread only; the tests
/// run on actix's single-threaded runtime).
/// Log capture through one global subscriber for the whole test binary:
/// thread-local subscribers (`set_default`) lose events when tests on other
/// threads register and drop theirs, which made these checks flaky.
struct Logs {
    from: usize,
}

static LOG_BUFFER: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

impl Logs {
    fn capture() -> (Logs, ()) {
        let buf = LOG_BUFFER.get_or_init(|| {
            let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
            let writer = buf.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || LogWriter(writer.clone()))
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            buf
        });
        let from = buf.lock().len();
        (Logs { from }, ())
    }

    /// What was logged since `capture` (by any test running meanwhile, too).
    fn text(&self) -> String {
        let buf = LOG_BUFFER.get().expect("captured").lock();
        String::from_utf8_lossy(&buf[self.from.min(buf.len())..]).into_owned()
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ------------------------------------------------------------------- tests

#[actix_rt::test]
async fn a_taken_message_arrives_by_email_at_a_real_smtp_server() {
    for db in backends().await {
        let smtp = SmtpServer::start(free_port(), Some(&format!("frontdesk:{SMTP_PASSWORD}")));
        let mut config = base_config();
        config.notifications.smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
        config.notifications.smtp_username = "frontdesk".into();
        config.notifications.smtp_password = Some(SMTP_PASSWORD.into());
        let store = db.store().await;
        let worker = Notifier::new(store.clone(), &config)
            .with_options(fast())
            .spawn();

        let queued = notify(&store, &config, &message_event("normal"), "msg:1")
            .await
            .unwrap();
        assert_eq!(
            queued, 1,
            "email only: no Slack, no SMS for a normal message"
        );
        worker.wake();
        let mail = smtp.wait_for_messages(1).await;
        assert_eq!(mail[0]["mail_from"], "frontdesk@example.com");
        assert_eq!(mail[0]["rcpt_tos"], serde_json::json!(["desk@example.com"]));
        assert_eq!(
            mail[0]["login"], "frontdesk",
            "authenticated with the configured user"
        );
        let data = mail[0]["data"].as_str().unwrap();
        assert!(
            data.contains("Subject: Message from Dana Reyes: Crown came loose"),
            "{data}"
        );
        assert!(
            data.contains("From: Frontdesk <frontdesk@example.com>"),
            "{data}"
        );
        assert!(data.contains("+15557654321"), "{data}");
        assert!(data.contains("It fell out at lunch"), "{data}");

        let store2 = store.clone();
        wait_until("the item to be marked sent", || {
            let store = store2.clone();
            async move { store.list_outbox(true).await.unwrap().is_empty() }
        })
        .await;
        assert_eq!(
            notify(&store, &config, &message_event("normal"), "msg:1")
                .await
                .unwrap(),
            0,
            "a repeated event after delivery queues nothing"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1, "sent once");
        worker.stop().await;
    }
}

#[actix_rt::test]
async fn smtp_url_without_tls_parameter_insists_on_starttls() {
    for db in backends().await {
        // aiosmtpd without a TLS context does not offer STARTTLS.
        let smtp = SmtpServer::start(free_port(), None);
        let store = db.store().await;
        let mut config = base_config();
        config.notifications.smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
        assert_eq!(
            notify(&store, &config, &message_event("normal"), "m")
                .await
                .unwrap(),
            1
        );
        let id = store.list_outbox(false).await.unwrap()[0].id;

        let starttls = Notifier::new(store.clone(), &config).with_options(fast());
        assert_eq!(starttls.run_once().await.unwrap(), 1);
        let item = store
            .list_outbox(true)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == id)
            .unwrap();
        assert!(
            item.dead,
            "a server that cannot encrypt is not retried: {item:?}"
        );
        let error = item.last_error.unwrap();
        assert!(error.contains("STARTTLS"), "{error}");
        assert!(smtp.messages().is_empty(), "nothing went out in clear text");

        config.notifications.smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
        let out = run_command(&store, OutboxAction::Retry(id)).await.unwrap();
        assert!(out.contains(&id.to_string()), "{out}");
        let plain = Notifier::new(store.clone(), &config).with_options(fast());
        assert_eq!(plain.run_once().await.unwrap(), 1);
        assert_eq!(smtp.wait_for_messages(1).await.len(), 1);
        assert!(store.list_outbox(true).await.unwrap().is_empty());
    }
}

#[actix_rt::test]
async fn slack_webhook_gets_json_text_and_failures_are_sorted() {
    for db in backends().await {
        let hook = Receiver::start();
        let store = db.store().await;
        let mut config = base_config();
        config.notifications.email_to.clear();
        config.notifications.slack_webhook_url = Some(hook.url.clone().into());
        let notifier = Notifier::new(store.clone(), &config).with_options(fast());

        assert_eq!(
            notify(&store, &config, &message_event("normal"), "s1")
                .await
                .unwrap(),
            1
        );
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let posts = hook.posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].content_type.as_deref(), Some("application/json"));
        let text = posts[0].body["text"].as_str().unwrap();
        assert!(text.starts_with("Message for "), "{text}");
        assert!(
            text.contains("Dana Reyes (+15557654321)") && text.contains("Crown came loose"),
            "{text}"
        );
        assert_eq!(posts[0].body.as_object().unwrap().len(), 1, "only `text`");
        assert!(store.list_outbox(true).await.unwrap().is_empty());

        // 5xx: try again later.
        hook.status.store(503, Ordering::SeqCst);
        store
            .enqueue_notification(
                &Notification::Slack {
                    text: "second".into(),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let item = store.list_outbox(true).await.unwrap().pop().unwrap();
        assert!(!item.dead);
        assert!(item.last_error.as_deref().unwrap().contains("503"));
        assert!(
            !item.last_error.as_deref().unwrap().contains("hook-secret"),
            "the URL is a secret"
        );
        // 404 (hook revoked): no point retrying.
        hook.status.store(404, Ordering::SeqCst);
        store.retry_notification(item.id).await.unwrap();
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let item = store.list_outbox(true).await.unwrap().pop().unwrap();
        assert!(item.dead, "{item:?}");
        assert!(item.last_error.unwrap().contains("404"));
        hook.handle.stop(true).await;
    }
}

#[actix_rt::test]
async fn sms_goes_through_twilio_from_the_business_number() {
    for db in backends().await {
        let twilio = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let store = db.store().await;
        let mut config = base_config();
        config.notifications.email_to.clear();
        config.notifications.sms_to = vec!["+15551234567".into()];
        config.twilio.account_sid = ACCOUNT.into();
        config.twilio.auth_token = Some(TOKEN.into());
        config.twilio.rest_base_url = twilio.base_url();
        config.bookings.sms_confirmation = true;
        let notifier = Notifier::new(store.clone(), &config).with_options(fast());

        assert_eq!(
            notify(&store, &config, &message_event("urgent"), "u1")
                .await
                .unwrap(),
            1
        );
        let booked = NotifyEvent::AppointmentBooked {
            to: "+15557654321".into(),
            name: "Dana".into(),
            service: "Cleaning".into(),
            when: "Tuesday 3 March at 2:30 PM".into(),
        };
        assert_eq!(notify(&store, &config, &booked, "b1").await.unwrap(), 1);
        assert_eq!(notifier.run_once().await.unwrap(), 2);
        assert!(store.list_outbox(true).await.unwrap().is_empty());

        let requests = twilio.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
        );
        for r in &requests {
            assert_eq!(r.method, "POST");
            assert_eq!(
                r.path,
                format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
            );
            assert_eq!(r.authorization.as_deref(), Some(auth.as_str()));
            assert_eq!(r.param("From"), Some(BUSINESS_PHONE));
        }
        let staff = requests
            .iter()
            .find(|r| r.param("To") == Some("+15551234567"))
            .unwrap();
        let body = staff.param("Body").unwrap();
        assert!(
            body.starts_with("URGENT message from Dana Reyes +15557654321"),
            "{body}"
        );
        let caller = requests
            .iter()
            .find(|r| r.param("To") == Some("+15557654321"))
            .unwrap();
        assert!(caller
            .param("Body")
            .unwrap()
            .contains("Cleaning is booked for Tuesday"));

        // Wrong credentials: Twilio's 401 will not heal, and the log masks the number.
        let (logs, _guard) = Logs::capture();
        config.twilio.auth_token = Some("wrong".into());
        let bad = Notifier::new(store.clone(), &config).with_options(fast());
        store
            .enqueue_notification(
                &Notification::Sms {
                    to: "+15551234567".into(),
                    body: "hi".into(),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(bad.run_once().await.unwrap(), 1);
        let item = store.list_outbox(true).await.unwrap().pop().unwrap();
        assert!(item.dead, "{item:?}");
        assert!(item.last_error.unwrap().contains("401"));
        let logs = logs.text();
        assert!(
            logs.contains("dead-lettered") && logs.contains("sms"),
            "{logs}"
        );
        assert!(logs.contains("+1555***4567"), "{logs}");
        assert!(!logs.contains("+15551234567"), "{logs}");
        twilio.stop().await;
    }
}

#[actix_rt::test]
async fn smtp_outage_backs_off_dead_letters_then_retry_delivers() {
    for db in backends().await {
        let port = free_port();
        let store = db.store().await;
        let mut config = base_config();
        config.notifications.smtp_url = format!("smtp://127.0.0.1:{port}?tls=none");
        config.notifications.smtp_username = "frontdesk".into();
        config.notifications.smtp_password = Some(SMTP_PASSWORD.into());
        config.notifications.max_attempts = 3;
        let options = fast();
        let initial = chrono::Duration::from_std(options.backoff_initial).unwrap();
        let notifier = Notifier::new(store.clone(), &config).with_options(options);
        let (logs, _guard) = Logs::capture();
        notify(&store, &config, &message_event("normal"), "outage")
            .await
            .unwrap();
        let item =
            |store: Store| async move { store.list_outbox(true).await.unwrap().pop().unwrap() };

        // Attempt 1 fails; the next is `initial` later, and not before.
        let t = chrono::Utc::now();
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let one = item(store.clone()).await;
        assert_eq!((one.attempts, one.dead), (1, false));
        assert!(
            one.last_error
                .as_deref()
                .unwrap()
                .contains(&port.to_string()),
            "{one:?}"
        );
        let wait = one.next_attempt_at - t;
        assert!(
            wait >= initial && wait < initial * 3,
            "first backoff {wait}"
        );
        assert_eq!(notifier.run_once().await.unwrap(), 0, "not due yet");

        // Attempt 2: the wait doubles.
        tokio::time::sleep(
            (one.next_attempt_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default(),
        )
        .await;
        let t = chrono::Utc::now();
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let two = item(store.clone()).await;
        assert_eq!((two.attempts, two.dead), (2, false));
        let wait = two.next_attempt_at - t;
        assert!(
            wait >= initial * 2 && wait < initial * 4,
            "second backoff {wait}"
        );

        // Attempt 3 = max_attempts: dead letter.
        tokio::time::sleep(
            (two.next_attempt_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default(),
        )
        .await;
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        let three = item(store.clone()).await;
        assert_eq!((three.attempts, three.dead), (3, true));
        assert!(store.list_outbox(false).await.unwrap().is_empty());
        let listing = run_command(&store, OutboxAction::List).await.unwrap();
        assert!(
            listing.contains("dead") && listing.contains("desk@example.com"),
            "{listing}"
        );
        tokio::time::sleep(initial.to_std().unwrap() * 8).await;
        assert_eq!(notifier.run_once().await.unwrap(), 0, "dead letters rest");

        // The server comes up; an operator retries; it is delivered.
        let smtp = SmtpServer::start(port, Some(&format!("frontdesk:{SMTP_PASSWORD}")));
        assert!(matches!(
            run_command(&store, OutboxAction::Retry(three.id + 1000)).await,
            Err(OutboxCommandError::NoSuchItem(_))
        ));
        run_command(&store, OutboxAction::Retry(three.id))
            .await
            .unwrap();
        assert_eq!(notifier.run_once().await.unwrap(), 1);
        assert_eq!(smtp.wait_for_messages(1).await.len(), 1);
        assert!(store.list_outbox(true).await.unwrap().is_empty());

        let logs = logs.text();
        assert!(
            logs.contains(&format!("id={}", three.id)) && logs.contains("kind=\"email\""),
            "{logs}"
        );
        assert!(
            logs.contains("will retry") && logs.contains("dead-lettered"),
            "{logs}"
        );
        assert!(
            !logs.contains(SMTP_PASSWORD),
            "the SMTP password leaked into the log"
        );
    }
}

#[actix_rt::test]
async fn a_pending_notification_survives_an_engine_restart() {
    for db in backends().await {
        let smtp = SmtpServer::start(free_port(), None);
        let mut config = base_config();
        config.notifications.smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
        {
            // The first engine queues the notification and stops before sending it.
            let store = db.store().await;
            assert_eq!(
                notify(&store, &config, &message_event("normal"), "restart")
                    .await
                    .unwrap(),
                1
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(smtp.messages().is_empty());

        // A new engine on the same database.
        let store = db.store().await;
        assert_eq!(store.list_outbox(false).await.unwrap().len(), 1);
        let worker = Notifier::new(store.clone(), &config)
            .with_options(fast())
            .spawn();
        let mail = smtp.wait_for_messages(1).await;
        assert!(mail[0]["data"]
            .as_str()
            .unwrap()
            .contains("Crown came loose"));
        let s = store.clone();
        wait_until("delivery to be recorded", || {
            let s = s.clone();
            async move { s.list_outbox(true).await.unwrap().is_empty() }
        })
        .await;
        worker.stop().await;
    }
}

/// Two engine instances share one database: each notification is sent once.
#[actix_rt::test]
async fn two_workers_on_one_database_send_each_item_once() {
    for db in backends().await {
        let hook = Receiver::start();
        let mut config = base_config();
        config.notifications.slack_webhook_url = Some(hook.url.clone().into());
        let (a, b) = (db.store().await, db.store().await);
        for i in 0..20 {
            a.enqueue_notification(
                &Notification::Slack {
                    text: format!("n{i}"),
                },
                None,
            )
            .await
            .unwrap();
        }
        let options = WorkerOptions {
            poll_interval: Duration::from_millis(5),
            ..fast()
        };
        let w1 = Notifier::new(a.clone(), &config)
            .with_options(options.clone())
            .spawn();
        let w2 = Notifier::new(b.clone(), &config)
            .with_options(options)
            .spawn();
        wait_until("all 20 to be delivered", || {
            let a = a.clone();
            async move { a.list_outbox(true).await.unwrap().is_empty() }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        w1.stop().await;
        w2.stop().await;
        let mut texts: Vec<String> = hook
            .posts()
            .iter()
            .map(|p| p.body["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts.len(), 20, "{texts:?}");
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), 20, "duplicates sent");
        hook.handle.stop(true).await;
    }
}

/// `app::launch` starts the notifier: a notification queued on a running
/// engine reaches the SMTP server without anything else being started.
#[actix_rt::test]
async fn a_launched_engine_drains_the_outbox() {
    let smtp = SmtpServer::start(free_port(), None);
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut config = Config::load_with_env(&ConfigSources::in_dir(&repo), &[]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    config.server.public_url = format!("http://{}", listener.local_addr().unwrap());
    config.storage.database_url = format!("sqlite://{}", dir.path().join("fd.db").display());
    config.storage.spill_path = dir.path().join("spill.jsonl").display().to_string();
    config.storage.redis_url = String::new();
    config.notifications.smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    config.notifications.email_to = vec!["owner@example.com".into()];
    let running = frontdesk::app::launch(config, Some(listener))
        .await
        .unwrap();
    let event = NotifyEvent::Voicemail {
        call_sid: "CA0123456789abcdef0123456789abcdef".into(),
        from: "+15557654321".into(),
        department: Some("Billing".into()),
        duration_secs: 12,
        transcript: Some("Please call me back about my invoice.".into()),
        recording_url: "https://api.twilio.com/rec/RE1".into(),
    };
    notify(&running.store, &running.config, &event, "vm:RE1")
        .await
        .unwrap();
    let mail = smtp.wait_for_messages(1).await;
    assert_eq!(
        mail[0]["rcpt_tos"],
        serde_json::json!(["owner@example.com"])
    );
    let data = mail[0]["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: Voicemail for Billing from +15557654321"),
        "{data}"
    );
    assert!(data.contains("about my invoice"), "{data}");
    let store = running.store.clone();
    wait_until("delivery to be recorded", || {
        let store = store.clone();
        async move { store.list_outbox(true).await.unwrap().is_empty() }
    })
    .await;
    running.stop(true).await;
}
