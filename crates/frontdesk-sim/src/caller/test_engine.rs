//! A scripted stand-in for the engine, used only by the caller's own tests:
//! fixed TwiML per path over HTTP, and a test-supplied WebSocket script.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type EngineSocket = WebSocketStream<TcpStream>;

/// One webhook request the fake engine received.
#[derive(Debug, Clone)]
pub struct EngineRequest {
    pub url: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub signature: Option<String>,
}

impl EngineRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the WebSocket side saw during the upgrade.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    pub path: String,
    pub signature: Option<String>,
}

pub struct FakeEngine<T> {
    pub base_url: String,
    pub ws_url: String,
    requests: Arc<Mutex<Vec<EngineRequest>>>,
    server: actix_web::dev::ServerHandle,
    pub upgrade: Arc<Mutex<Option<Upgrade>>>,
    pub ws_task: JoinHandle<Option<T>>,
}

impl<T> FakeEngine<T> {
    pub fn requests(&self) -> Vec<EngineRequest> {
        self.requests.lock().clone()
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

struct Routes {
    base_url: Mutex<String>,
    table: HashMap<String, (u16, String)>,
    requests: Arc<Mutex<Vec<EngineRequest>>>,
}

async fn serve(request: HttpRequest, body: web::Bytes, routes: web::Data<Routes>) -> HttpResponse {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let url = format!("{}{}", routes.base_url.lock(), request.uri());
    routes.requests.lock().push(EngineRequest {
        url,
        path: request.path().to_owned(),
        form,
        signature: request
            .headers()
            .get("X-Twilio-Signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    match routes.table.get(request.path()) {
        Some((status, body)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).unwrap())
                .content_type("text/xml")
                .body(body.clone())
        }
        None => HttpResponse::NotFound().finish(),
    }
}

/// Starts the fake engine. `routes` maps paths to (status, body); `{ws}` in a
/// body is replaced by the WebSocket URL. With `refuse` the upgrade is
/// answered with that status; otherwise `script` runs on the accepted socket.
pub async fn start<T, F, Fut>(
    routes: &[(&str, u16, &str)],
    refuse: Option<u16>,
    script: F,
) -> FakeEngine<T>
where
    T: Send + 'static,
    F: FnOnce(EngineSocket) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/twilio/stream", listener.local_addr().unwrap());
    let upgrade: Arc<Mutex<Option<Upgrade>>> = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&upgrade);
    let ws_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.ok()?;
        // The shape of this callback is tungstenite's, large error included.
        #[allow(clippy::result_large_err)]
        let callback =
            move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
                *seen.lock() = Some(Upgrade {
                    path: request.uri().path().to_owned(),
                    signature: request
                        .headers()
                        .get("X-Twilio-Signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                });
                match refuse {
                    Some(status) => {
                        let mut refusal = ErrorResponse::new(Some("refused".to_owned()));
                        *refusal.status_mut() = StatusCode::from_u16(status).unwrap();
                        Err(refusal)
                    }
                    None => Ok(response),
                }
            };
        let socket = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .ok()?;
        Some(script(socket).await)
    });

    let requests = Arc::new(Mutex::new(Vec::new()));
    let table = routes
        .iter()
        .map(|(path, status, body)| ((*path).to_owned(), (*status, body.replace("{ws}", &ws_url))))
        .collect();
    let data = web::Data::new(Routes {
        base_url: Mutex::new(String::new()),
        table,
        requests: Arc::clone(&requests),
    });
    let app_data = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_data.clone())
            .default_service(web::to(serve))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base_url = format!("http://{}", server.addrs()[0]);
    *data.base_url.lock() = base_url.clone();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    FakeEngine {
        base_url,
        ws_url,
        requests,
        server: handle,
        upgrade,
        ws_task,
    }
}

/// Next JSON text message, or `None` when the socket ends.
pub async fn recv(socket: &mut EngineSocket) -> Option<Value> {
    while let Some(Ok(message)) = socket.next().await {
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

pub async fn send(socket: &mut EngineSocket, value: Value) {
    socket.send(Message::text(value.to_string())).await.unwrap();
}
