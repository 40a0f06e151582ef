//! Starting and stopping an engine: used by `frontdesk serve`, by
//! `frontdesk simulate` and by the end-to-end tests alike.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::dev::ServerHandle;

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::recorder::{LogRecorder, RecordCall};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// A running engine.
pub struct Running {
    pub engine: Arc<Engine>,
    pub addr: SocketAddr,
    pub server: ServerHandle,
}

/// The TLS crypto provider for outgoing connections (model, Twilio REST).
/// Idempotent: a second install is a no-op.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Binds `config`'s address (or `listener`) and starts serving. Must run
/// inside an actix system.
pub fn launch(
    config: Config,
    listener: Option<TcpListener>,
    recorder: Option<actix::Recipient<RecordCall>>,
) -> Result<Running, LaunchError> {
    install_crypto();
    let listener = match listener {
        Some(l) => l,
        None => {
            let addr = config.listen_addr();
            TcpListener::bind(&addr).map_err(|source| LaunchError::Bind { addr, source })?
        }
    };
    let addr = listener
        .local_addr()
        .map_err(|source| LaunchError::Bind { addr: "listener".into(), source })?;
    let recorder = recorder.unwrap_or_else(|| LogRecorder.start().recipient());
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let engine = Engine::new(config, recorder)?;
    let server = crate::http::serve(engine.clone(), listener, workers)
        .map_err(|source| LaunchError::Bind { addr: addr.to_string(), source })?;
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(Running { engine, addr, server: handle })
}

/// How long a draining engine waits for calls in progress to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

impl Running {
    /// Shutdown drain: refuse new calls, let the ones in progress finish
    /// (up to `timeout`), then stop.
    pub async fn drain(&self, timeout: Duration) {
        self.engine.start_draining();
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.engine.registry.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.server.stop(true).await;
    }
}
