//! The HTTP face of the engine (actix-web): Twilio webhooks, the Media
//! Streams WebSocket, and operator endpoints.

mod drain;
mod failover;
pub mod limits;
pub mod openai_webhook;
pub mod ops;
pub mod remote;
pub mod render;
pub mod twilio_auth;
mod urls;
pub mod webhooks;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::call::Calls;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::SessionStore;
use crate::store::Store;
use crate::twilio::StreamKey;
pub use drain::Drain;
use render::TwimlRenderer;
use twilio_auth::{SignaturePolicy, TwilioAuth};
pub use urls::PublicUrls;

/// Webhook bodies are small forms; anything larger is not Twilio.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The public face: Twilio's webhooks and stream, liveness, and — unless
/// an internal listener takes them — readiness and metrics.
pub fn routes(cfg: &mut web::ServiceConfig, with_ops: bool) {
    cfg.app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
        .route("/twilio/voice", web::post().to(webhooks::voice))
        .route(
            "/twilio/after-stream",
            web::post().to(webhooks::after_stream),
        )
        .route("/twilio/menu", web::post().to(webhooks::menu))
        .route("/twilio/dial-status", web::post().to(webhooks::dial_status))
        .route("/twilio/voicemail", web::post().to(webhooks::voicemail))
        .route("/twilio/call-status", web::post().to(webhooks::call_status))
        .route(
            "/twilio/recording-status",
            web::post().to(webhooks::recording_status),
        )
        .route("/twilio/stream", web::get().to(webhooks::stream))
        .route(
            "/openai/webhook",
            web::post().to(openai_webhook::openai_webhook),
        )
        .route("/healthz", web::get().to(ops::healthz));
    if with_ops {
        ops_routes(cfg);
    }
}

/// What only operators and their monitoring need to see.
fn ops_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics));
}

/// What the handlers are given: each takes the handles it uses from the
/// app data, by type.
pub struct Services {
    pub config: Arc<Config>,
    pub calls: Calls,
    pub sessions: SessionStore,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub drain: Drain,
}

/// One `web::Data` per handle, built once and shared by every worker.
#[derive(Clone)]
struct AppData {
    auth: web::Data<TwilioAuth>,
    twiml: web::Data<TwimlRenderer>,
    calls: web::Data<Calls>,
    sessions: web::Data<SessionStore>,
    store: web::Data<Store>,
    metrics: web::Data<Metrics>,
    drain: web::Data<Drain>,
    config: web::Data<Config>,
    limits: web::Data<crate::config::LimitsConfig>,
    machine: web::Data<crate::call::MachineConfig>,
    stream_gate: web::Data<crate::media_stream::StreamGate>,
}

impl AppData {
    fn new(s: Services) -> Self {
        let urls = PublicUrls::new(s.config.public_base());
        let stream_key = StreamKey::derive(
            s.config
                .twilio
                .auth_token
                .as_ref()
                .map(crate::config::Secret::expose),
        );
        AppData {
            auth: web::Data::new(TwilioAuth {
                policy: SignaturePolicy::from_config(&s.config),
                urls: urls.clone(),
                metrics: s.metrics.clone(),
            }),
            twiml: web::Data::new(TwimlRenderer {
                business: Arc::new(s.config.business.clone()),
                urls,
                stream_key: stream_key.clone(),
            }),
            stream_gate: web::Data::new(crate::media_stream::StreamGate {
                key: stream_key,
                start_deadline: Duration::from_millis(s.config.server.stream_start_deadline_ms),
            }),
            calls: web::Data::new(s.calls),
            sessions: web::Data::new(s.sessions),
            store: web::Data::new(s.store),
            metrics: web::Data::from(s.metrics),
            drain: web::Data::new(s.drain),
            limits: web::Data::new(s.config.limits.clone()),
            machine: web::Data::new(crate::call::machine_config(&s.config)),
            config: web::Data::from(s.config),
        }
    }

    fn install(self, app: &mut web::ServiceConfig) {
        app.app_data(self.auth)
            .app_data(self.twiml)
            .app_data(self.calls)
            .app_data(self.sessions)
            .app_data(self.store)
            .app_data(self.metrics)
            .app_data(self.drain)
            .app_data(self.config)
            .app_data(self.limits)
            .app_data(self.machine)
            .app_data(self.stream_gate);
    }
}

/// Starts serving on an already bound listener (tests bind port 0), and on
/// `internal` (for `/readyz` and `/metrics` only) when one is given.
pub fn serve(
    services: Services,
    listener: TcpListener,
    internal: Option<TcpListener>,
    workers: usize,
) -> std::io::Result<Vec<Server>> {
    let server_config = &services.config.server;
    let limits = limits::Limits {
        body_timeout: Duration::from_millis(server_config.body_timeout_ms),
        max_body_bytes: MAX_FORM_BYTES,
        max_unproven_per_peer: server_config.max_unproven_connections_per_peer,
    };
    let header_timeout = Duration::from_millis(server_config.header_timeout_ms);
    let peers = limits::PeerConnections::default();
    let data = AppData::new(services);
    let public_ops = internal.is_none();
    let mut servers = Vec::new();
    if let Some(internal) = internal {
        let data = data.clone();
        servers.push(
            HttpServer::new(move || {
                let data = data.clone();
                App::new()
                    .configure(move |app| data.install(app))
                    .route("/healthz", web::get().to(ops::healthz))
                    .configure(ops_routes)
            })
            .workers(1)
            .disable_signals()
            .listen(internal)?
            .run(),
        );
    }
    let server = HttpServer::new(move || {
        let data = data.clone();
        App::new()
            .configure(move |app| data.install(app))
            .wrap(from_fn(move |req, next| limits::enforce(limits, req, next)))
            .configure(|cfg| routes(cfg, public_ops))
    })
    .workers(workers.max(1))
    .client_request_timeout(header_timeout)
    .on_connect(move |conn, data| peers.on_connect(conn, data))
    // A `clear` right after audio must not wait for a delayed ACK
    // (benchmarks: clear p99 2.0 ms -> 0.4 ms at 100 calls).
    .tcp_nodelay(true)
    // Shutdown is ours: drain calls first (see app::Running::drain).
    .disable_signals()
    .listen(listener)?
    .run();
    servers.push(server);
    Ok(servers)
}
