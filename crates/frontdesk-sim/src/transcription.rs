//! A stand-in for an OpenAI-compatible speech-to-text service:
//! `POST /v1/audio/transcriptions` with a multipart form (`file`, `model`,
//! `response_format`), Bearer auth, answers `{"text": …}` and OpenAI-shaped
//! error documents. It checks what a real service would refuse (a wrong key,
//! no model, a file that is not a WAV) and records every request, rejected
//! ones too.
//!
//! Runs on actix-web, so it must be started inside an actix System
//! (`#[actix_rt::test]` in tests). It has its own port: the Realtime model
//! simulator is a raw WebSocket server, so engines point
//! `knowledge.transcription_base_url` here.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::audio;

/// OpenAI's upload limit for this endpoint.
const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;
const PATH: &str = "/v1/audio/transcriptions";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct TranscriptionScript {
    /// `Some`: requests must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// `Some`: the only model accepted; `None`: any non-empty model.
    pub model: Option<String>,
    /// What every recording "says".
    pub text: String,
    /// Answer every request with this HTTP status and an error document
    /// (the service is down); changeable with [`TranscriptionHandle::set_failure`].
    pub fail_with: Option<u16>,
    /// Added before answering.
    pub delay: Duration,
}

impl Default for TranscriptionScript {
    fn default() -> Self {
        Self {
            api_key: None,
            model: None,
            text: "Hi, this is a test voicemail. Please call me back.".into(),
            fail_with: None,
            delay: Duration::ZERO,
        }
    }
}

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub model: Option<String>,
    pub response_format: Option<String>,
    pub file_name: Option<String>,
    pub file_content_type: Option<String>,
    pub file: Vec<u8>,
    /// The HTTP status it was answered with.
    pub status: u16,
}

struct State {
    script: Mutex<TranscriptionScript>,
    requests: Mutex<Vec<TranscriptionRequest>>,
}

/// Entry point; see [`TranscriptionSim::start`].
pub struct TranscriptionSim;

impl TranscriptionSim {
    /// Binds 127.0.0.1 on a free port.
    pub async fn start(script: TranscriptionScript) -> std::io::Result<TranscriptionHandle> {
        Self::start_on(script, "127.0.0.1:0").await
    }

    /// Binds `addr` (e.g. `127.0.0.1:8090`) and serves until stopped.
    pub async fn start_on(
        script: TranscriptionScript,
        addr: &str,
    ) -> std::io::Result<TranscriptionHandle> {
        let state = Arc::new(State {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_UPLOAD_BYTES))
                .route(PATH, web::post().to(transcribe))
                .default_service(web::to(not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(addr)?;
        let address =
            server.addrs().first().copied().ok_or_else(|| {
                std::io::Error::other("the transcription simulator bound no address")
            })?;
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(TranscriptionHandle {
            base_url: format!("http://{address}/v1"),
            state,
            server: handle,
        })
    }
}

/// A running simulator.
#[derive(Clone)]
pub struct TranscriptionHandle {
    base_url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl TranscriptionHandle {
    /// `http://127.0.0.1:<port>/v1`, an `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<TranscriptionRequest> {
        self.state.requests.lock().clone()
    }

    pub fn set_text(&self, text: impl Into<String>) {
        self.state.script.lock().text = text.into();
    }

    /// `Some(status)`: fail every request from now on; `None`: recover.
    pub fn set_failure(&self, status: Option<u16>) {
        self.state.script.lock().fail_with = status;
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

fn openai_error(
    status: StatusCode,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> HttpResponse {
    let kind = match status.as_u16() {
        401 | 400 | 404 | 413 => "invalid_request_error",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    };
    HttpResponse::build(status).json(json!({
        "error": {"message": message, "type": kind, "param": param, "code": code}
    }))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({} {})", req.method(), req.path()),
        None,
        None,
    )
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn authorized(expected: Option<&str>, header: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes()))
}

async fn transcribe(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let script = state.script.lock().clone();
    let authorization = header(&req, "authorization");
    let content_type = header(&req, "content-type");
    let parts = content_type
        .as_deref()
        .and_then(boundary)
        .ok_or_else(|| "Content-Type must be multipart/form-data with a boundary".to_owned())
        .and_then(|b| parse_multipart(&body, &b));
    let field = |name: &str| {
        parts
            .as_ref()
            .ok()
            .and_then(|ps| ps.iter().find(|p| p.name == name))
    };
    let text_field =
        |name: &str| field(name).map(|p| String::from_utf8_lossy(&p.data).into_owned());
    let file = field("file");
    let mut record = TranscriptionRequest {
        authorization: authorization.clone(),
        content_type,
        model: text_field("model"),
        response_format: text_field("response_format"),
        file_name: file.and_then(|f| f.filename.clone()),
        file_content_type: file.and_then(|f| f.content_type.clone()),
        file: file.map(|f| f.data.clone()).unwrap_or_default(),
        status: 0,
    };
    let response = answer(&script, &record, authorization.as_deref(), &parts);
    record.status = response.status().as_u16();
    state.requests.lock().push(record);
    if !script.delay.is_zero() {
        actix_rt::time::sleep(script.delay).await;
    }
    response
}

fn answer(
    script: &TranscriptionScript,
    request: &TranscriptionRequest,
    authorization: Option<&str>,
    parts: &Result<Vec<Part>, String>,
) -> HttpResponse {
    if !authorized(script.api_key.as_deref(), authorization) {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            None,
            Some("invalid_api_key"),
        );
    }
    if let Some(status) = script.fail_with {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return openai_error(status, "The server is temporarily unavailable.", None, None);
    }
    if let Err(e) = parts {
        return openai_error(StatusCode::BAD_REQUEST, e, None, None);
    }
    let model = request.model.as_deref().unwrap_or("").trim();
    if model.is_empty() {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            Some("model"),
            None,
        );
    }
    if script.model.as_deref().is_some_and(|m| m != model) {
        return openai_error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid model {model}. The model must be a speech-to-text model."),
            Some("model"),
            Some("model_not_found"),
        );
    }
    if request.file.is_empty() {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'file'.",
            Some("file"),
            None,
        );
    }
    if let Err(e) = audio::parse_wav(&request.file) {
        return openai_error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid file format ({e}). The simulator accepts WAV only."),
            Some("file"),
            Some("invalid_value"),
        );
    }
    match request.response_format.as_deref().unwrap_or("json") {
        "json" => HttpResponse::Ok().json(json!({
            "text": script.text,
            "usage": {"type": "duration", "seconds": wav_seconds(&request.file)},
        })),
        "text" => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(script.text.clone()),
        other => openai_error(
            StatusCode::BAD_REQUEST,
            &format!("response_format '{other}' is not supported by the simulator"),
            Some("response_format"),
            None,
        ),
    }
}

fn wav_seconds(wav: &[u8]) -> u64 {
    audio::parse_wav(wav)
        .map(|info| info.duration_ms().div_ceil(1000))
        .unwrap_or(0)
}

/// One part of a multipart form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// RFC 7578 form parts; anything malformed is an error message.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)
        .ok_or("multipart body without its boundary")?
        + delimiter.len();
    let mut parts = Vec::new();
    loop {
        match body.get(at..at + 2) {
            Some(b"--") => return Ok(parts),
            Some(b"\r\n") => at += 2,
            _ => return Err("malformed multipart delimiter".into()),
        }
        let headers_end = find(body, b"\r\n\r\n", at).ok_or("multipart part without headers")?;
        let headers = std::str::from_utf8(&body[at..headers_end])
            .map_err(|_| "multipart headers are not UTF-8")?;
        let data_start = headers_end + 4;
        let data_end = find(body, next_delimiter.as_bytes(), data_start)
            .ok_or("multipart part is not terminated")?;
        parts.push(part(headers, body[data_start..data_end].to_vec())?);
        at = data_end + next_delimiter.len();
    }
}

fn part(headers: &str, data: Vec<u8>) -> Result<Part, String> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-disposition") {
            let mut params = value.split(';');
            if params.next().map(str::trim) != Some("form-data") {
                return Err("multipart part is not form-data".into());
            }
            for p in params {
                if let Some((k, v)) = p.split_once('=') {
                    let v = v.trim().trim_matches('"').to_owned();
                    match k.trim() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        } else if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    Ok(Part {
        name: name.ok_or("multipart part without a name")?,
        filename,
        content_type,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    fn wav() -> Vec<u8> {
        audio::mulaw_to_wav(&audio::synth_speech(1500, 2))
    }

    fn form(model: Option<&str>, file: Option<Vec<u8>>) -> reqwest::multipart::Form {
        let mut f = reqwest::multipart::Form::new().text("response_format", "json");
        if let Some(m) = model {
            f = f.text("model", m.to_owned());
        }
        if let Some(bytes) = file {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name("vm.wav")
                .mime_str("audio/wav")
                .unwrap();
            f = f.part("file", part);
        }
        f
    }

    #[test]
    fn multipart_bodies_are_parsed() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        let body = b"preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--x\r\n--xyz--\r\n";
        let parts = parse_multipart(body, "xyz").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "model");
        assert_eq!(parts[0].data, b"whisper-1");
        assert_eq!(parts[1].filename.as_deref(), Some("a.wav"));
        assert_eq!(parts[1].content_type.as_deref(), Some("audio/wav"));
        assert_eq!(
            parts[1].data, b"RIFF\r\n--x",
            "a near-boundary inside data stays data"
        );
        assert!(parse_multipart(
            b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "xyz"
        )
        .is_err());
        assert!(parse_multipart(b"nothing here", "xyz").is_err());
    }

    #[actix_rt::test]
    async fn checks_key_model_and_file_and_records_everything() {
        let sim = TranscriptionSim::start(TranscriptionScript {
            api_key: Some("sk-1".into()),
            text: "Call me back".into(),
            ..TranscriptionScript::default()
        })
        .await
        .unwrap();
        let url = format!("{}/audio/transcriptions", sim.base_url());
        let send = |key: &'static str, f: reqwest::multipart::Form| {
            client().post(&url).bearer_auth(key).multipart(f).send()
        };
        let ok = send("sk-1", form(Some("gpt-4o-transcribe"), Some(wav())))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(body["text"], "Call me back");
        assert_eq!(body["usage"]["seconds"], 2);

        let r = send("sk-2", form(Some("m"), Some(wav()))).await.unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(
            send("sk-1", form(None, Some(wav())))
                .await
                .unwrap()
                .status(),
            400
        );
        assert_eq!(
            send("sk-1", form(Some("m"), None)).await.unwrap().status(),
            400
        );
        let not_wav = send("sk-1", form(Some("m"), Some(b"ID3 mp3 bytes".to_vec())))
            .await
            .unwrap();
        assert_eq!(not_wav.status(), 400);
        let plain = client()
            .post(&url)
            .bearer_auth("sk-1")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 400);

        sim.set_failure(Some(503));
        let down = send("sk-1", form(Some("m"), Some(wav()))).await.unwrap();
        assert_eq!(down.status(), 503);
        sim.set_failure(None);
        sim.set_text("Second");
        let r = send("sk-1", form(Some("m"), Some(wav()))).await.unwrap();
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["text"],
            "Second"
        );

        let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 401, 400, 400, 400, 400, 503, 200]);
        let first = &sim.requests()[0];
        assert_eq!(first.file, wav());
        assert_eq!(first.file_name.as_deref(), Some("vm.wav"));
        assert_eq!(first.file_content_type.as_deref(), Some("audio/wav"));
        assert_eq!(first.authorization.as_deref(), Some("Bearer sk-1"));
        let missing = client()
            .post(format!("{}/audio/translations", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        sim.stop().await;
    }
}
