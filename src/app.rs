//! Starting and stopping an engine: used by `frontdesk serve`, by
//! `frontdesk simulate` and by the end-to-end tests alike.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::dev::ServerHandle;
use base64::Engine as _;

use crate::call::registry::CallRegistry;
use crate::call::{machine_config, CallDeps, Calls, ModelSetup};
use crate::config::Config;
use crate::http::Drain;
use crate::metrics::Metrics;
use crate::realtime::session::UrlError;
use crate::recorder::{Flush, Recorder, RecorderStats};
use crate::session::{generate_instance_id, SessionError, SessionOptions, SessionStore};
use crate::store::{Store, StoreError};
use crate::tools::{ToolRunner, Toolbox, ToolsError};

/// The "one moment, please" clip (G.711 mu-law, 8 kHz), made by
/// `scripts/make-hold-clip.sh`.
const HOLD_CLIP: &[u8] = include_bytes!("../assets/one-moment.ulaw");

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("realtime.base_url: {0}")]
    RealtimeUrl(#[from] UrlError),
    #[error("tools: {0}")]
    Tools(#[from] ToolsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("session store: {0}")]
    Sessions(#[from] SessionError),
    #[error("recorder spill file {path}: {source}")]
    Spill {
        path: String,
        source: std::io::Error,
    },
}

/// A running engine.
pub struct Running {
    pub config: Arc<Config>,
    /// The calls this instance holds.
    pub calls: Calls,
    pub sessions: SessionStore,
    pub metrics: Arc<Metrics>,
    drain: Drain,
    pub addr: SocketAddr,
    /// The public server, and the internal one when configured.
    pub servers: Vec<ServerHandle>,
    /// Where `/readyz` and `/metrics` are served when not on `addr`.
    pub internal_addr: Option<SocketAddr>,
    pub store: Store,
    pub recorder: Addr<Recorder>,
    pub recorder_stats: Arc<RecorderStats>,
}

/// The TLS crypto provider for outgoing connections (model, Twilio REST).
/// Idempotent: a second install is a no-op.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long start-up waits for an unreachable database before giving up
/// (the retry loop logs the reason on every attempt meanwhile).
pub const DATABASE_WAIT: Duration = Duration::from_secs(300);

/// Connects the database (retrying while it is unreachable), binds
/// `config`'s address (or `listener`) and starts serving. Must run inside an
/// actix system.
pub async fn launch(config: Config, listener: Option<TcpListener>) -> Result<Running, LaunchError> {
    install_crypto();
    let store =
        Store::connect_with_retry(&config.storage.database_url, Some(DATABASE_WAIT)).await?;
    crate::tools::caller::seed_contacts(&store, &config.business).await;
    let stats = Arc::new(RecorderStats::default());
    let spill = std::path::PathBuf::from(&config.storage.spill_path);
    // Call events for the business's webhooks are queued by the recorder's
    // sink, after the rows they stand for.
    let sink = Arc::new(crate::integrations::events::CallEventsSink {
        store: store.clone(),
        config: Arc::new(config.clone()),
    });
    let recorder = Recorder::new(sink, &spill, stats.clone())
        .map_err(|source| LaunchError::Spill {
            path: spill.display().to_string(),
            source,
        })?
        .with_redaction(crate::privacy::redactor(&config))
        .spawn();
    let listener = match listener {
        Some(l) => l,
        None => {
            let addr = config.listen_addr();
            TcpListener::bind(&addr).map_err(|source| LaunchError::Bind { addr, source })?
        }
    };
    let addr = listener.local_addr().map_err(|source| LaunchError::Bind {
        addr: "listener".into(),
        source,
    })?;
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let sessions = {
        let opts = SessionOptions {
            namespace: config.storage.redis_namespace.clone(),
            ..SessionOptions::default()
        };
        let id = generate_instance_id();
        match config.storage.redis_url.as_str() {
            "" => SessionStore::memory_with(id, opts),
            url => SessionStore::redis_with(url, id, opts).await?,
        }
    };
    let inbox = sessions.inbox()?;
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let tools = ToolRunner::new(Toolbox::standard(&config)?, store.clone(), config.clone());
    let calls = Calls::new(CallDeps {
        machine: machine_config(&config),
        model: ModelSetup::new(&config.realtime, tools.specs())?,
        business: Arc::new(config.business.clone()),
        tools,
        recorder: recorder.clone().recipient(),
        numbering: recorder.clone().recipient(),
        flight: Some({
            let recorder = recorder.clone();
            std::sync::Arc::new(move |chunk| recorder.do_send(chunk))
        }),
        sessions: sessions.clone(),
        registry: Arc::new(CallRegistry::default()),
        metrics: metrics.clone(),
        hold_clip: base64::engine::general_purpose::STANDARD.encode(HOLD_CLIP),
        openai: crate::sip::OpenAiCalls::new(
            &config.realtime.base_url,
            config
                .realtime
                .api_key
                .as_ref()
                .map(|k| k.expose().to_owned()),
        ),
        sip_fallback: crate::call::sip_fallback(&config),
    });
    let drain = Drain::default();
    actix_rt::spawn(crate::http::remote::serve_inbox(calls.clone(), inbox));
    let services = crate::http::Services {
        config: config.clone(),
        calls: calls.clone(),
        sessions: sessions.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        drain: drain.clone(),
    };
    let internal = match config.server.internal_listen.as_str() {
        "" => None,
        at => Some(TcpListener::bind(at).map_err(|source| LaunchError::Bind {
            addr: at.to_owned(),
            source,
        })?),
    };
    let internal_addr = internal.as_ref().and_then(|l| l.local_addr().ok());
    let servers = crate::http::serve(services, listener, internal, workers).map_err(|source| {
        LaunchError::Bind {
            addr: addr.to_string(),
            source,
        }
    })?;
    let mut handles = Vec::new();
    for server in servers {
        handles.push(server.handle());
        actix_rt::spawn(server);
    }
    // Detached: it lives as long as the runtime; a send cut off by shutdown is retried.
    crate::notify::worker::spawn(store.clone(), &config);
    actix_rt::spawn(crate::voicemail::recover_periodically(
        store.clone(),
        config.clone(),
    ));
    actix_rt::spawn(crate::privacy::retention::run_periodically(
        store.clone(),
        config.clone(),
    ));
    Ok(Running {
        config,
        calls,
        sessions,
        metrics,
        drain,
        addr,
        servers: handles,
        internal_addr,
        store,
        recorder,
        recorder_stats: stats,
    })
}

/// How long a draining engine waits for calls in progress to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

impl Running {
    /// Stops serving HTTP (gracefully: requests in progress finish).
    pub async fn stop(&self, graceful: bool) {
        for server in &self.servers {
            server.stop(graceful).await;
        }
    }

    /// Shutdown drain: refuse new calls, let the conversations in progress
    /// finish (up to `timeout`), end whatever is still open as `shutdown`,
    /// flush the recorder, then stop.
    pub async fn drain(&self, timeout: Duration) {
        self.drain.start();
        let deadline = tokio::time::Instant::now() + timeout;
        // Only conversations are waited for: a call parked in the menu, a
        // recording or a ringing transfer is in Twilio's hands, and its
        // next webhook is answered by any instance.
        while self.calls.in_conversation().await > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Whatever is still open ends now, recorded as `shutdown`, before
        // the recorder's last flush.
        let open = self.calls.len();
        if open > 0 {
            tracing::warn!(open, "drain over: ending the calls still open");
            self.calls.shut_down_all();
            // Each call's mailbox is in order: once every call has answered
            // this, each has ended and sent its last records to the
            // recorder, ahead of the flush below.
            let still = self.calls.in_conversation().await;
            if still > 0 {
                tracing::warn!(still, "calls did not end at shutdown");
            }
        }
        // SIP calls ended just now are hung up through OpenAI's REST API:
        // those requests finish before the workers they run on stop.
        if !self.calls.openai().settled(Duration::from_secs(5)).await {
            tracing::warn!("OpenAI requests still unanswered at shutdown");
        }
        self.stop(true).await;
        if !self
            .recorder
            .send(Flush {
                timeout: Duration::from_secs(10),
            })
            .await
            .unwrap_or(false)
        {
            tracing::warn!(
                "some call records were not written before shutdown; they remain in the spill file"
            );
        }
    }
}
