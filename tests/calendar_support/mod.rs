//! Calendars for the tests: a real Radicale CalDAV server (the pinned PyPI
//! package, from the venv scripts/pytools.sh makes) on a free port with a
//! temp storage dir and plain htpasswd auth, and the contract every
//! `Calendar` adapter keeps, checked the same way for each.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use frontdesk::calendar::{BookingRequest, Calendar, CalendarError, Interval};

pub const CALDAV_USER: &str = "desk";
pub const CALDAV_PASSWORD: &str = "radicale-test-pass";

/// A plain HTTP client (reqwest is built without a default TLS provider).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn python() -> PathBuf {
    let p = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python")
        });
    assert!(
        p.exists(),
        "{} not found: run scripts/pytools.sh (scripts/test.sh does it)",
        p.display()
    );
    p
}

/// A running Radicale, killed on drop.
pub struct Radicale {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Radicale {
    pub fn start() -> Radicale {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let users = dir.path().join("users");
        std::fs::write(&users, format!("{CALDAV_USER}:{CALDAV_PASSWORD}\n")).unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n\
                 [storage]\nfilesystem_folder = {}\n\
                 [rights]\ntype = owner_only\n\
                 [logging]\nlevel = warning\n",
                users.display(),
                dir.path().join("collections").display()
            ),
        )
        .unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
        let child = Command::new(python())
            .args(["-m", "radicale", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut server = Radicale { child, port, dir };
        // Generous: on a loaded 2-core machine Python takes a while to start.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "Radicale exited ({status}): {}\nIs radicale installed? run scripts/pytools.sh",
                    server.stderr()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "Radicale did not listen: {}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    /// Makes a calendar collection `name` of the test user (MKCALENDAR) and
    /// returns its URL.
    pub async fn calendar(&self, name: &str) -> String {
        let url = format!("http://127.0.0.1:{}/{CALDAV_USER}/{name}/", self.port);
        let res = http()
            .request(reqwest::Method::from_bytes(b"MKCALENDAR").unwrap(), &url)
            .basic_auth(CALDAV_USER, Some(CALDAV_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
        url
    }

    /// Puts an event made by somebody else (a person in their calendar app).
    pub async fn put_foreign(&self, calendar_url: &str, name: &str, ics: &str) {
        let res = http()
            .put(format!("{calendar_url}{name}"))
            .basic_auth(CALDAV_USER, Some(CALDAV_PASSWORD))
            .header("Content-Type", "text/calendar")
            .body(ics.to_string())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
}

/// 2030-06-03 (a Monday) at `h:m` UTC.
pub fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 3, h, m, 0).unwrap()
}

pub fn request(start: DateTime<Utc>, minutes: i64, phone: &str) -> BookingRequest {
    BookingRequest {
        service: "Cleaning".into(),
        start,
        end: start + Span::minutes(minutes),
        name: "Ada Lovelace".into(),
        phone: phone.into(),
        purpose: "sore gum, since Monday".into(),
    }
}

/// Held time as a set: overlapping and touching ranges joined (a provider
/// may report two back-to-back events as one busy period, as Google does).
pub fn merged(mut held: Vec<Interval>) -> Vec<Interval> {
    held.sort_by_key(|i| (i.start, i.end));
    let mut out: Vec<Interval> = Vec::new();
    for i in held {
        match out.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => out.push(i),
        }
    }
    out
}

async fn busy_set(cal: &dyn Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
    merged(cal.busy(from, to).await.unwrap())
}

/// The contract of `frontdesk::calendar` (see its module docs), on an empty
/// calendar whose 2030-06-03 09:00-10:00 UTC is held by a foreign event.
pub async fn check_contract(cal: &dyn Calendar) {
    let day = (at(0, 0), at(23, 59));
    let foreign = Interval::new(at(9, 0), at(10, 0));
    assert_eq!(
        busy_set(cal, day.0, day.1).await,
        vec![foreign],
        "busy shows events the adapter did not create"
    );
    assert!(
        matches!(
            cal.book(request(at(9, 30), 30, "+15550001111")).await,
            Err(CalendarError::Conflict(_))
        ),
        "a foreign event holds its time"
    );

    let a = cal
        .book(request(at(14, 0), 70, "+15550001111"))
        .await
        .unwrap();
    assert_eq!((a.start, a.end), (at(14, 0), at(15, 10)));
    assert_eq!(a.purpose, "sore gum, since Monday");
    let clash = cal.book(request(at(14, 30), 30, "+15550002222")).await;
    assert!(
        matches!(clash, Err(CalendarError::Conflict(_))),
        "{clash:?}"
    );
    // Touching is not overlapping.
    let b = cal
        .book(request(at(15, 10), 20, "+15550002222"))
        .await
        .unwrap();
    assert_eq!(
        busy_set(cal, day.0, day.1).await,
        merged(vec![foreign, a.held(), b.held()])
    );

    let found = cal
        .find_by_phone("+15550001111".into(), at(0, 0))
        .await
        .unwrap();
    assert_eq!(found, vec![a.clone()]);
    assert!(
        cal.find_by_phone("+15550001111".into(), at(16, 0))
            .await
            .unwrap()
            .is_empty(),
        "ended bookings are not upcoming"
    );
    assert!(cal
        .find_by_phone("+15559999999".into(), at(0, 0))
        .await
        .unwrap()
        .is_empty());

    // Moving onto b is refused and a stays; moving to overlap itself is fine.
    let refused = cal.reschedule(a.id.clone(), at(15, 0), at(16, 0)).await;
    assert!(
        matches!(refused, Err(CalendarError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        cal.find_by_phone("+15550001111".into(), at(0, 0))
            .await
            .unwrap(),
        vec![a.clone()],
        "a refused move leaves the booking where it was"
    );
    let moved = cal
        .reschedule(a.id.clone(), at(13, 30), at(14, 40))
        .await
        .unwrap();
    assert_eq!((moved.start, moved.end), (at(13, 30), at(14, 40)));
    assert_eq!(
        (
            moved.service.as_str(),
            moved.name.as_str(),
            moved.phone.as_str()
        ),
        ("Cleaning", "Ada Lovelace", "+15550001111")
    );
    assert_eq!(
        busy_set(cal, day.0, day.1).await,
        merged(vec![foreign, moved.held(), b.held()])
    );

    if moved.id != a.id {
        assert_eq!(cal.cancel(a.id.clone()).await, Err(CalendarError::NotFound));
    }
    assert_eq!(
        cal.cancel(moved.id.clone()).await.unwrap().start,
        at(13, 30)
    );
    assert_eq!(
        cal.cancel(moved.id.clone()).await,
        Err(CalendarError::NotFound)
    );
    assert_eq!(
        cal.cancel("no-such-booking".into()).await,
        Err(CalendarError::NotFound)
    );
    assert_eq!(busy_set(cal, day.0, day.1).await, vec![foreign, b.held()]);
    assert!(matches!(
        cal.book(request(at(18, 0), 0, "+15550001111")).await,
        Err(CalendarError::Invalid(_))
    ));

    // A race for one slot books at most one caller; nobody is told yes
    // without holding it.
    let (x, y) = tokio::join!(
        cal.book(request(at(17, 0), 30, "+15550003333")),
        cal.book(request(at(17, 15), 30, "+15550004444"))
    );
    let won: Vec<_> = [&x, &y].into_iter().filter(|r| r.is_ok()).collect();
    assert!(won.len() <= 1, "{x:?} {y:?}");
    for r in [&x, &y] {
        assert!(
            r.is_ok() || matches!(r, Err(CalendarError::Conflict(_))),
            "{r:?}"
        );
    }
    let evening = busy_set(cal, at(16, 0), at(23, 0)).await;
    assert_eq!(evening.len(), won.len(), "{evening:?}");
}

/// A test-only service-account key (tests/fixtures) and its public half
/// (PKCS#1 DER), for the Google simulator to check JWTs with.
pub fn service_account_key() -> (String, Vec<u8>) {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/google-service-account-TEST-ONLY.pem"),
    )
    .unwrap();
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let key = ring::rsa::KeyPair::from_pkcs8(&der).unwrap();
    (pem, key.public().as_ref().to_vec())
}
