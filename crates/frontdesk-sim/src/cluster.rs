//! Engine processes for multi-instance tests and measurements: each a
//! `frontdesk serve` child process on a given address, configured through
//! the environment as an operator would, sharing PostgreSQL and Redis with
//! its peers. A process can be killed with SIGKILL, as a crash would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What every instance of the cluster shares.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The `frontdesk` binary.
    pub binary: PathBuf,
    /// The working directory (where `config/` is).
    pub workdir: PathBuf,
    /// Logs and spill files go here.
    pub scratch: PathBuf,
    /// `PUBLIC_URL`: the balancer in front of the instances.
    pub public_url: String,
    pub database_url: String,
    pub redis_url: String,
    pub redis_namespace: String,
    /// `OPENAI_BASE_URL` (the model simulator's `/v1`).
    pub model_base_url: String,
    pub api_key: String,
    pub auth_token: String,
    pub account_sid: String,
}

/// One running instance.
pub struct EngineProcess {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl EngineProcess {
    /// Starts an instance listening on `addr` (which the balancer already
    /// knows).
    pub fn spawn(spec: &ClusterSpec, name: &str, addr: SocketAddr) -> std::io::Result<Self> {
        let log = spec.scratch.join(format!("{name}.log"));
        let child = Command::new(&spec.binary)
            .arg("serve")
            .current_dir(&spec.workdir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("FRONTDESK__SERVER__HOST", addr.ip().to_string())
            .env("PORT", addr.port().to_string())
            .env("PUBLIC_URL", &spec.public_url)
            .env("DATABASE_URL", &spec.database_url)
            .env("REDIS_URL", &spec.redis_url)
            .env("FRONTDESK__STORAGE__REDIS_NAMESPACE", &spec.redis_namespace)
            .env(
                "FRONTDESK__STORAGE__SPILL_PATH",
                spec.scratch.join(format!("{name}-spill.jsonl")),
            )
            .env("OPENAI_BASE_URL", &spec.model_base_url)
            .env("OPENAI_API_KEY", &spec.api_key)
            .env("TWILIO_AUTH_TOKEN", &spec.auth_token)
            .env("TWILIO_ACCOUNT_SID", &spec.account_sid)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(EngineProcess { child, addr, log })
    }

    /// Waits until `/healthz` answers, or the process has exited or
    /// `timeout` passed (then `false`).
    pub async fn healthy(&mut self, timeout: Duration) -> bool {
        let url = format!("http://{}/healthz", self.addr);
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// SIGKILL: no drain, no last flush — a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it logged (stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback address nobody listens on yet (for an instance to take).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}
