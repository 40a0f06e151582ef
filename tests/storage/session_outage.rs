//! Redis goes away mid-flight and comes back: calls keep working on local
//! state, health says so, and on recovery the shared registry is rebuilt.
//! Runs its own redis-server so killing it disturbs no other test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontdesk::session::{Health, SessionOptions, SessionStore};
use serde_json::json;

/// Kills the child redis-server however the test ends.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let server = Self {
            port,
            child: Some(child),
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGSTOP/SIGCONT: the server keeps its sockets open but stops
    /// answering, the failure a timeout (not a refused connection) must catch.
    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(|c| c.id().to_string()).unwrap();
        let status = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn opts() -> SessionOptions {
    SessionOptions {
        owner_ttl: Duration::from_secs(2),
        heartbeat_every: Duration::from_millis(200),
        op_timeout: Duration::from_millis(300),
        reconnect_max_backoff: Duration::from_millis(200),
        namespace: "fdoutage".into(),
    }
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn answer_everything(store: &SessionStore) {
    let mut inbox = store.inbox().unwrap();
    tokio::spawn(async move {
        while let Some(req) = inbox.recv().await {
            req.reply.send(Some(json!({"handled": req.call_sid})));
        }
    });
}

#[tokio::test]
async fn redis_down_and_back() {
    let port = free_port();
    let mut server = RedisServer::start(port);
    let url = server.url();
    let a = SessionStore::redis_with(&url, "inst-a".into(), opts())
        .await
        .unwrap();
    let b = SessionStore::redis_with(&url, "inst-b".into(), opts())
        .await
        .unwrap();
    assert_eq!(a.health(), Health::Ok);
    answer_everything(&a);

    a.claim("CA-before").await;
    assert_eq!(b.owner("CA-before").await.as_deref(), Some("inst-a"));
    let via_redis = b
        .forward("inst-a", "CA-before", json!({}), Duration::from_secs(2))
        .await;
    assert_eq!(via_redis.unwrap(), Some(json!({"handled": "CA-before"})));

    server.kill();
    eventually("A notices the outage", Duration::from_secs(5), || async {
        !a.health().is_ok()
    })
    .await;
    let Health::Degraded(reason) = a.health() else {
        panic!("expected degraded");
    };
    assert!(!reason.is_empty());

    // The call in progress and a new call both keep working on local state.
    assert_eq!(a.owner("CA-before").await.as_deref(), Some("inst-a"));
    a.claim("CA-during").await;
    assert_eq!(a.owner("CA-during").await.as_deref(), Some("inst-a"));
    assert!(
        a.begin_once("voice:CA-during", Duration::from_secs(60))
            .await
    );
    assert!(
        !a.begin_once("voice:CA-during", Duration::from_secs(60))
            .await
    );
    let before = a.fail_open_count();
    assert!(a.allow("+15550001", 1, Duration::from_secs(60)).await);
    assert!(a.fail_open_count() > before);
    let own = a
        .forward("inst-a", "CA-during", json!({}), Duration::from_secs(1))
        .await;
    assert_eq!(own.unwrap(), Some(json!({"handled": "CA-during"})));
    let started = Instant::now();
    assert!(b.owner("CA-during").await.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a down Redis must not stall callers"
    );

    // Same port, empty Redis: everything A still holds must be re-registered.
    let _server = RedisServer::start(port);
    eventually("A recovers", Duration::from_secs(10), || async {
        a.health().is_ok()
    })
    .await;
    eventually("B recovers", Duration::from_secs(10), || async {
        b.health().is_ok()
    })
    .await;
    eventually(
        "claims are re-registered",
        Duration::from_secs(5),
        || async {
            b.owner("CA-before").await.as_deref() == Some("inst-a")
                && b.owner("CA-during").await.as_deref() == Some("inst-a")
        },
    )
    .await;
    let again = b
        .forward("inst-a", "CA-during", json!({}), Duration::from_secs(2))
        .await;
    assert_eq!(again.unwrap(), Some(json!({"handled": "CA-during"})));
    // A webhook begun during the outage is still not acted on twice.
    assert!(
        !a.begin_once("voice:CA-during", Duration::from_secs(60))
            .await
    );
}

#[tokio::test]
async fn stalled_redis_costs_at_most_the_operation_timeout() {
    let server = RedisServer::start(free_port());
    let opts = SessionOptions {
        namespace: "fdstall".into(),
        ..opts()
    };
    let a = SessionStore::redis_with(&server.url(), "inst-a".into(), opts.clone())
        .await
        .unwrap();
    assert_eq!(a.health(), Health::Ok);
    a.claim("CA1").await;

    server.signal("-STOP");
    let bound = opts.op_timeout + Duration::from_millis(400);
    let started = Instant::now();
    a.claim("CA2").await;
    assert!(
        started.elapsed() < bound,
        "claim took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(a.owner("CA2").await.as_deref(), Some("inst-a"));
    assert!(started.elapsed() < bound);
    let started = Instant::now();
    assert!(a.begin_once("voice:CA2", Duration::from_secs(60)).await);
    assert!(a.allow("+15550002", 5, Duration::from_secs(60)).await);
    assert!(started.elapsed() < bound * 2);
    assert!(!a.health().is_ok(), "a stalled Redis must report degraded");

    server.signal("-CONT");
    eventually(
        "recovery after the stall",
        Duration::from_secs(10),
        || async { a.health().is_ok() },
    )
    .await;
    assert!(!a.begin_once("voice:CA2", Duration::from_secs(60)).await);
}
