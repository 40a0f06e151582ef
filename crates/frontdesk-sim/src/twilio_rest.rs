//! A stand-in for the parts of the Twilio REST API the engine calls: call
//! updates (redirect / hang up), call creation, SMS and recording downloads.
//! It checks Basic auth like Twilio, answers with Twilio-shaped JSON and
//! records every request (rejected ones too) for assertions.
//!
//! Runs on actix-web, so it must be started inside an actix System
//! (`#[actix_rt::test]` in tests).

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::audio;
use crate::caller::new_sid;

const API_PREFIX: &str = "/2010-04-01/Accounts/";
/// The simulator reports every invalid-parameter error with this code; real
/// Twilio uses a parameter-specific 21xxx code.
const INVALID_PARAMETER: u32 = 20001;

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Form-encoded body parameters, in order (empty for GET).
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
}

impl RecordedRequest {
    /// First value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct CallState {
    from: String,
    to: String,
    status: String,
    direction: &'static str,
    created: chrono::DateTime<chrono::Utc>,
}

struct State {
    account_sid: String,
    auth_token: String,
    requests: Mutex<Vec<RecordedRequest>>,
    recordings: Mutex<HashMap<String, Vec<u8>>>,
    calls: Mutex<HashMap<String, CallState>>,
}

/// Entry point; see [`TwilioRestSim::start`].
pub struct TwilioRestSim;

impl TwilioRestSim {
    /// Binds 127.0.0.1 on a free port and serves until [`TwilioRestHandle::stop`].
    pub async fn start(account_sid: &str, auth_token: &str) -> std::io::Result<TwilioRestHandle> {
        let state = Arc::new(State {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            requests: Mutex::new(Vec::new()),
            recordings: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
        let address = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("the REST simulator bound no address"))?;
        let server = server.run();
        let server_handle = server.handle();
        actix_rt::spawn(server);
        Ok(TwilioRestHandle {
            base_url: format!("http://{address}"),
            state,
            server: server_handle,
        })
    }
}

/// A running simulator.
#[derive(Clone)]
pub struct TwilioRestHandle {
    base_url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl TwilioRestHandle {
    /// `http://127.0.0.1:<port>`, to use in place of `https://api.twilio.com`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().clone()
    }

    /// Makes `Recordings/{sid}.wav` (and `.json`) downloadable.
    pub fn add_recording(&self, sid: &str, wav: Vec<u8>) {
        self.state.recordings.lock().insert(sid.to_owned(), wav);
    }

    /// Whether the recording is (still) there.
    pub fn has_recording(&self, sid: &str) -> bool {
        self.state.recordings.lock().contains_key(sid)
    }

    /// Sets a call's status, e.g. `completed` to make later redirects fail
    /// like they do for a call that already ended.
    pub fn set_call_status(&self, call_sid: &str, status: &str) {
        let mut calls = self.state.calls.lock();
        let call = calls
            .entry(call_sid.to_owned())
            .or_insert_with(inbound_call);
        call.status = status.to_owned();
    }

    /// Current status of a call the simulator knows about.
    pub fn call_status(&self, call_sid: &str) -> Option<String> {
        self.state
            .calls
            .lock()
            .get(call_sid)
            .map(|c| c.status.clone())
    }

    /// Stops the server gracefully.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

fn inbound_call() -> CallState {
    CallState {
        from: String::new(),
        to: String::new(),
        status: "in-progress".to_owned(),
        direction: "inbound",
        created: chrono::Utc::now(),
    }
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"Twilio API\""));
    }
    response.json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    }))
}

fn not_found(path: &str) -> HttpResponse {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

fn invalid(message: &str) -> HttpResponse {
    twilio_error(StatusCode::BAD_REQUEST, INVALID_PARAMETER, message)
}

async fn handle(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let form: Option<Vec<(String, String)>> = if body.is_empty() {
        Some(Vec::new())
    } else {
        serde_urlencoded::from_bytes(&body).ok()
    };
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.requests.lock().push(RecordedRequest {
        method: request.method().as_str().to_owned(),
        path: request.path().to_owned(),
        form: form.clone().unwrap_or_default(),
        authorization: authorization.clone(),
    });

    if !authorized(&state, authorization.as_deref()) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let Some(form) = form else {
        return invalid("Request body is not application/x-www-form-urlencoded");
    };
    let path = request.path();
    let Some((account, resource)) = path
        .strip_prefix(API_PREFIX)
        .and_then(|rest| rest.split_once('/'))
    else {
        return not_found(path);
    };
    if account != state.account_sid {
        return not_found(path);
    }
    let segments: Vec<&str> = resource.split('/').collect();
    let method = request.method().as_str();
    let host = request.connection_info().host().to_owned();
    match (method, segments.as_slice()) {
        ("POST", ["Calls.json"]) => create_call(&state, &form),
        ("POST", ["Calls", file]) => match file.strip_suffix(".json") {
            Some(sid) => update_call(&state, sid, &form, path),
            None => not_found(path),
        },
        ("GET", ["Calls", file]) => match file.strip_suffix(".json") {
            Some(sid) => fetch_call(&state, sid, path),
            None => not_found(path),
        },
        ("POST", ["Messages.json"]) => send_message(&state, &form),
        ("GET", ["Recordings", file]) => fetch_recording(&state, file, path, &host),
        ("DELETE", ["Recordings", file]) => match file.strip_suffix(".json") {
            Some(sid) => delete_recording(&state, sid, path),
            None => not_found(path),
        },
        (_, ["Calls.json"] | ["Calls", _] | ["Messages.json"] | ["Recordings", _]) => {
            twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
        }
        _ => not_found(path),
    }
}

fn authorized(state: &State, header: Option<&str>) -> bool {
    let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = BASE64.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    let user_ok = user.as_bytes().ct_eq(state.account_sid.as_bytes());
    let password_ok = password.as_bytes().ct_eq(state.auth_token.as_bytes());
    bool::from(user_ok & password_ok)
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].chars().all(|c| c.is_ascii_hexdigit())
}

fn call_json(account_sid: &str, sid: &str, call: &CallState) -> Value {
    let now = chrono::Utc::now().to_rfc2822();
    let uri = format!("{API_PREFIX}{account_sid}/Calls/{sid}");
    let ended = matches!(
        call.status.as_str(),
        "completed" | "canceled" | "failed" | "busy" | "no-answer"
    );
    json!({
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "date_created": call.created.to_rfc2822(),
        "date_updated": now,
        "start_time": call.created.to_rfc2822(),
        "end_time": if ended { Value::String(now.clone()) } else { Value::Null },
        "duration": if ended {
            Value::String((chrono::Utc::now() - call.created).num_seconds().to_string())
        } else {
            Value::Null
        },
        "from": call.from,
        "from_formatted": call.from,
        "to": call.to,
        "to_formatted": call.to,
        "status": call.status,
        "direction": call.direction,
        "parent_call_sid": null,
        "phone_number_sid": null,
        "price": null,
        "price_unit": "USD",
        "answered_by": null,
        "forwarded_from": null,
        "caller_name": null,
        "group_sid": null,
        "queue_time": "0",
        "trunk_sid": null,
        "uri": format!("{uri}.json"),
        "subresource_uris": {
            "recordings": format!("{uri}/Recordings.json"),
            "notifications": format!("{uri}/Notifications.json"),
            "streams": format!("{uri}/Streams.json"),
        },
    })
}

fn create_call(state: &State, form: &[(String, String)]) -> HttpResponse {
    let Some(to) = param(form, "To") else {
        return invalid("A 'To' phone number is required.");
    };
    let Some(from) = param(form, "From") else {
        return invalid("A 'From' phone number is required.");
    };
    if ["Url", "Twiml", "ApplicationSid"]
        .iter()
        .all(|name| param(form, name).is_none())
    {
        return invalid("Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required.");
    }
    let sid = new_sid("CA");
    let call = CallState {
        from: from.to_owned(),
        to: to.to_owned(),
        status: "queued".to_owned(),
        direction: "outbound-api",
        created: chrono::Utc::now(),
    };
    let body = call_json(&state.account_sid, &sid, &call);
    state.calls.lock().insert(sid, call);
    HttpResponse::Created().json(body)
}

fn update_call(state: &State, sid: &str, form: &[(String, String)], path: &str) -> HttpResponse {
    if !is_sid(sid, "CA") {
        return not_found(path);
    }
    let twiml = param(form, "Twiml");
    let url = param(form, "Url");
    let status = param(form, "Status");
    if twiml.is_some() && url.is_some() {
        return invalid("'Twiml' and 'Url' are mutually exclusive.");
    }
    let other_updatable = ["StatusCallback", "FallbackUrl", "TimeLimit"]
        .iter()
        .any(|name| param(form, name).is_some());
    if twiml.is_none() && url.is_none() && status.is_none() && !other_updatable {
        return invalid("No updatable parameter ('Twiml', 'Url', 'Status', …) was provided.");
    }
    if let Some(status) = status {
        if !matches!(status, "completed" | "canceled") {
            return invalid("'Status' must be 'completed' or 'canceled'.");
        }
    }
    let mut calls = state.calls.lock();
    // Calls the simulated caller placed are unknown here until first touched:
    // they are live inbound calls.
    let call = calls.entry(sid.to_owned()).or_insert_with(inbound_call);
    let live = matches!(call.status.as_str(), "queued" | "ringing" | "in-progress");
    if (twiml.is_some() || url.is_some()) && !live {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21220,
            "Call is not in-progress. Cannot redirect.",
        );
    }
    match status {
        Some("completed") if live => call.status = "completed".to_owned(),
        Some("canceled") if matches!(call.status.as_str(), "queued" | "ringing") => {
            call.status = "canceled".to_owned();
        }
        _ => {}
    }
    HttpResponse::Ok().json(call_json(&state.account_sid, sid, call))
}

fn fetch_call(state: &State, sid: &str, path: &str) -> HttpResponse {
    let calls = state.calls.lock();
    match calls.get(sid) {
        Some(call) => HttpResponse::Ok().json(call_json(&state.account_sid, sid, call)),
        None => not_found(path),
    }
}

fn send_message(state: &State, form: &[(String, String)]) -> HttpResponse {
    let Some(to) = param(form, "To") else {
        return invalid("A 'To' phone number is required.");
    };
    let from = param(form, "From");
    let service = param(form, "MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return invalid("A 'From' phone number or 'MessagingServiceSid' is required.");
    }
    let body = param(form, "Body");
    if body.is_none() && param(form, "MediaUrl").is_none() {
        return invalid("Message body is required.");
    }
    let sid = new_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    let segments = body.map_or(0, |b| b.chars().count().div_ceil(160)).max(1);
    HttpResponse::Created().json(json!({
        "sid": sid,
        "account_sid": state.account_sid,
        "api_version": "2010-04-01",
        "body": body.unwrap_or(""),
        "date_created": now,
        "date_updated": now,
        "date_sent": null,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "status": "queued",
        "to": to,
        "uri": format!("{API_PREFIX}{}/Messages/{sid}.json", state.account_sid),
    }))
}

/// Like Twilio: 204 without a body, 404 (code 20404) when there is no such recording.
fn delete_recording(state: &State, sid: &str, path: &str) -> HttpResponse {
    match state.recordings.lock().remove(sid) {
        Some(_) => HttpResponse::NoContent().finish(),
        None => not_found(path),
    }
}

fn fetch_recording(state: &State, file: &str, path: &str, host: &str) -> HttpResponse {
    let (sid, extension) = file.split_once('.').unwrap_or((file, "wav"));
    let recordings = state.recordings.lock();
    let Some(wav) = recordings.get(sid) else {
        return not_found(path);
    };
    match extension {
        // A RecordingUrl without extension serves WAV, like Twilio's default.
        "wav" => HttpResponse::Ok()
            .content_type("audio/x-wav")
            .body(wav.clone()),
        "json" => {
            let duration = audio::parse_wav(wav)
                .map(|info| (info.duration_ms() / 1000).to_string())
                .unwrap_or_else(|_| "0".to_owned());
            let now = chrono::Utc::now().to_rfc2822();
            let base = format!("{API_PREFIX}{}/Recordings/{sid}", state.account_sid);
            HttpResponse::Ok().json(json!({
                "sid": sid,
                "account_sid": state.account_sid,
                "api_version": "2010-04-01",
                "call_sid": null,
                "conference_sid": null,
                "date_created": now,
                "date_updated": now,
                "start_time": now,
                "duration": duration,
                "channels": 1,
                "source": "RecordVerb",
                "status": "completed",
                "price": null,
                "price_unit": "USD",
                "error_code": null,
                "encryption_details": null,
                "media_url": format!("http://{host}{base}"),
                "uri": format!("{base}.json"),
            }))
        }
        // Only WAV is stored; the simulator does not transcode to MP3.
        _ => not_found(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "secret-token";
    const CALL: &str = "CAffffffffffffffffffffffffffffffff";

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    fn api(handle: &TwilioRestHandle, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{ACCOUNT}/{resource}",
            handle.base_url()
        )
    }

    async fn post(
        handle: &TwilioRestHandle,
        resource: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = client()
            .post(api(handle, resource))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[actix_rt::test]
    async fn rejects_missing_or_wrong_credentials_and_records_them() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let url = api(&sim, &format!("Calls/{CALL}.json"));
        let response = client()
            .post(&url)
            .form(&[("Status", "completed")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401})
        );
        let response = client()
            .post(&url)
            .basic_auth(ACCOUNT, Some("wrong"))
            .form(&[("Status", "completed")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);

        let requests = sim.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].authorization, None);
        assert_eq!(requests[0].param("Status"), Some("completed"));
        assert!(requests[1]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")));
        assert_eq!(
            sim.call_status(CALL),
            None,
            "rejected requests change nothing"
        );
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn updates_live_calls_like_twilio() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let resource = format!("Calls/{CALL}.json");
        let twiml = "<Response><Say>Bye</Say><Hangup/></Response>";
        let (status, body) = post(&sim, &resource, &[("Twiml", twiml)]).await;
        assert_eq!(status, 200);
        assert_eq!(body["sid"], CALL);
        assert_eq!(body["status"], "in-progress");
        assert_eq!(body["account_sid"], ACCOUNT);

        let (status, _) = post(
            &sim,
            &resource,
            &[("Url", "https://a.example/next"), ("Twiml", twiml)],
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = post(&sim, &resource, &[]).await;
        assert_eq!(status, 400);

        let (status, body) = post(&sim, &resource, &[("Status", "completed")]).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "completed");
        assert!(body["end_time"].is_string());
        assert_eq!(sim.call_status(CALL).as_deref(), Some("completed"));

        let (status, body) = post(
            &sim,
            &resource,
            &[("Url", "https://a.example/next"), ("Method", "POST")],
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], 21220);

        let (status, body) = post(&sim, "Calls/CA123.json", &[("Status", "completed")]).await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], 20404);

        let recorded = sim.requests();
        assert_eq!(recorded.len(), 6);
        assert_eq!(recorded[0].method, "POST");
        assert_eq!(
            recorded[0].path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json")
        );
        assert_eq!(recorded[0].param("Twiml"), Some(twiml));
        assert_eq!(recorded[4].param("Method"), Some("POST"));
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn creates_calls_and_messages() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let (status, body) = post(
            &sim,
            "Calls.json",
            &[
                ("To", "+15552223333"),
                ("From", "+15550001111"),
                ("Url", "https://a.example/twiml"),
                ("StatusCallbackEvent", "initiated"),
                ("StatusCallbackEvent", "completed"),
            ],
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(body["status"], "queued");
        assert_eq!(body["direction"], "outbound-api");
        let sid = body["sid"].as_str().unwrap();
        assert!(is_sid(sid, "CA"), "{sid}");
        assert_eq!(sim.call_status(sid).as_deref(), Some("queued"));
        let created = &sim.requests()[0];
        let events: Vec<&str> = created
            .form
            .iter()
            .filter(|(k, _)| k == "StatusCallbackEvent")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(events, vec!["initiated", "completed"]);

        let (status, _) = post(&sim, "Calls.json", &[("From", "+15550001111")]).await;
        assert_eq!(status, 400);

        let (status, body) = post(
            &sim,
            "Messages.json",
            &[
                ("To", "+15552223333"),
                ("From", "+15550001111"),
                ("Body", "Your booking is confirmed"),
            ],
        )
        .await;
        assert_eq!(status, 201);
        assert!(is_sid(body["sid"].as_str().unwrap(), "SM"));
        assert_eq!(body["status"], "queued");
        assert_eq!(body["body"], "Your booking is confirmed");
        let (status, _) = post(
            &sim,
            "Messages.json",
            &[("To", "+15552223333"), ("Body", "x")],
        )
        .await;
        assert_eq!(status, 400);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn serves_recordings_with_auth() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let sid = "RE0123456789abcdef0123456789abcdef";
        let wav = audio::mulaw_to_wav(&audio::synth_speech(2500, 4));
        sim.add_recording(sid, wav.clone());

        let get = |path: String| {
            client()
                .get(api(&sim, &path))
                .basic_auth(ACCOUNT, Some(TOKEN))
                .send()
        };
        let response = get(format!("Recordings/{sid}.wav")).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "audio/x-wav"
        );
        assert_eq!(response.bytes().await.unwrap().to_vec(), wav);

        let response = get(format!("Recordings/{sid}")).await.unwrap();
        assert_eq!(response.bytes().await.unwrap().to_vec(), wav);

        let meta: Value = get(format!("Recordings/{sid}.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["sid"], sid);
        assert_eq!(meta["duration"], "2");
        assert_eq!(meta["status"], "completed");

        let response = get(format!("Recordings/{sid}.mp3")).await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        let response = get("Recordings/RE00000000000000000000000000000000.wav".into())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404);

        let response = client()
            .get(api(&sim, &format!("Recordings/{sid}.wav")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn deletes_recordings_like_twilio() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let sid = "RE0123456789abcdef0123456789abcdef";
        sim.add_recording(sid, audio::mulaw_to_wav(&audio::synth_speech(500, 4)));
        let delete = || {
            client()
                .delete(api(&sim, &format!("Recordings/{sid}.json")))
                .basic_auth(ACCOUNT, Some(TOKEN))
                .send()
        };
        let response = delete().await.unwrap();
        assert_eq!(response.status().as_u16(), 204);
        assert!(response.bytes().await.unwrap().is_empty());
        assert!(!sim.has_recording(sid));
        let response = delete().await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 20404);
        let last = sim.requests().pop().unwrap();
        assert_eq!(last.method, "DELETE");
        assert!(last.path.ends_with(&format!("/Recordings/{sid}.json")));
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn unknown_resources_and_accounts_are_404() {
        let sim = TwilioRestSim::start(ACCOUNT, TOKEN).await.unwrap();
        let (status, body) = post(&sim, "Queues.json", &[("FriendlyName", "q")]).await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], 20404);
        assert_eq!(
            body["more_info"],
            "https://www.twilio.com/docs/errors/20404"
        );

        let other = format!(
            "{}/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json",
            sim.base_url()
        );
        let response = client()
            .post(other)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(&[("To", "+1"), ("From", "+2"), ("Body", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404);

        let response = client()
            .get(api(&sim, "Messages.json"))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(sim.requests().len(), 3);
        sim.stop().await;
    }
}
