//! A stand-in for Google Calendar API v3 and Google's OAuth 2 token
//! endpoint, from their public references: the refresh-token grant and the
//! service-account JWT-bearer grant (RS256 signature, `aud`, `exp` checked),
//! bearer tokens on every API call, `freeBusy`, and `events` insert / list /
//! get / patch / delete with Google's ETags, its 409 for a duplicate id, 412
//! for a stale `If-Match`, 410 for a deleted event and its error shapes.
//!
//! Like the real API it accepts overlapping events: keeping bookings apart
//! is the client's job. Runs on actix-web (start it inside an actix System).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

/// How the simulator lets clients in.
#[derive(Clone, Default)]
pub struct GoogleAuth {
    /// OAuth client id and secret, and the refresh token they may use.
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Service accounts: `client_email` and the RSA public key (PKCS#1
    /// `RSAPublicKey` DER) their JWTs are checked with.
    pub service_accounts: Vec<(String, Vec<u8>)>,
}

#[derive(Clone)]
struct Stored {
    event: Map<String, Value>,
    version: u64,
}

struct State {
    auth: GoogleAuth,
    calendars: Vec<String>,
    tokens: Mutex<HashSet<String>>,
    events: Mutex<BTreeMap<(String, String), Stored>>,
    down: Mutex<bool>,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<String>>,
    base: Mutex<String>,
}

pub struct GoogleCalendarSim;

#[derive(Clone)]
pub struct GoogleCalendarHandle {
    base: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl GoogleCalendarSim {
    /// Serves on 127.0.0.1 (free port) the calendars `calendars` (the first
    /// is also `primary`).
    pub async fn start(
        auth: GoogleAuth,
        calendars: &[&str],
    ) -> std::io::Result<GoogleCalendarHandle> {
        let state = Arc::new(State {
            auth,
            calendars: calendars.iter().map(|c| c.to_string()).collect(),
            tokens: Mutex::new(HashSet::new()),
            events: Mutex::new(BTreeMap::new()),
            down: Mutex::new(false),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            base: Mutex::new(String::new()),
        });
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("the Google simulator bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        let base = format!("http://{addr}");
        *state.base.lock() = base.clone();
        Ok(GoogleCalendarHandle {
            base,
            state,
            server: handle,
        })
    }
}

impl GoogleCalendarHandle {
    /// In place of `https://www.googleapis.com/calendar/v3`.
    pub fn base_url(&self) -> String {
        format!("{}/calendar/v3", self.base)
    }

    /// In place of `https://oauth2.googleapis.com/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// Every access token issued so far stops working (as on revocation).
    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().clear();
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        *self.state.down.lock() = down;
    }

    /// Holds every answer this long.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock() = delay;
    }

    /// `METHOD path` of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().clone()
    }

    /// Adds an event as a person would in the Google Calendar app.
    pub fn insert(&self, calendar: &str, event: Value) -> String {
        let mut e = event.as_object().cloned().unwrap_or_default();
        let id = e
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(new_id);
        e.insert("id".into(), json!(id));
        finish(&mut e, 1);
        self.state.events.lock().insert(
            (calendar.to_string(), id.clone()),
            Stored {
                event: e,
                version: 1,
            },
        );
        id
    }

    /// The events of a calendar (deleted ones too, `status: cancelled`).
    pub fn events(&self, calendar: &str) -> Vec<Value> {
        self.state
            .events
            .lock()
            .iter()
            .filter(|((c, _), _)| c == calendar)
            .map(|(_, s)| Value::Object(s.event.clone()))
            .collect()
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Google's error body.
fn error(code: StatusCode, reason: &str, message: &str) -> HttpResponse {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    HttpResponse::build(code).json(json!({"error": {
        "errors": [{"domain": "global", "reason": reason, "message": message}],
        "code": code.as_u16(),
        "message": message,
        "status": status,
    }}))
}

fn token_error(code: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(code).json(json!({"error": error, "error_description": description}))
}

fn time_of(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(t) = v.get("dateTime").and_then(Value::as_str) {
        return DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(v.get("date")?.as_str()?, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

fn range_of(e: &Map<String, Value>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((time_of(e.get("start")?)?, time_of(e.get("end")?)?))
}

fn live(e: &Map<String, Value>) -> bool {
    e.get("status").and_then(Value::as_str) != Some("cancelled")
}

fn opaque(e: &Map<String, Value>) -> bool {
    e.get("transparency").and_then(Value::as_str) != Some("transparent")
}

/// Server-set fields of a stored event at `version`.
fn finish(e: &mut Map<String, Value>, version: u64) {
    let now = rfc3339(Utc::now());
    e.insert("kind".into(), json!("calendar#event"));
    e.insert(
        "etag".into(),
        json!(format!("\"{}\"", 3_000_000_000_000u64 + version)),
    );
    e.entry("status").or_insert(json!("confirmed"));
    e.entry("created").or_insert(json!(now.clone()));
    e.insert("updated".into(), json!(now));
    let id = e
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    e.entry("iCalUID")
        .or_insert(json!(format!("{id}@google.com")));
}

/// base32hex, 5 to 1024 characters (the rule for client-chosen ids).
fn valid_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v'))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    state
        .requests
        .lock()
        .push(format!("{} {}", req.method(), req.path()));
    let delay = *state.delay.lock();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if *state.down.lock() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    let path = req.path().to_string();
    if path == "/token" && req.method() == "POST" {
        return token(&state, &body);
    }
    let Some(rest) = path.strip_prefix("/calendar/v3/") else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if !bearer.is_some_and(|t| state.tokens.lock().contains(&t)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let json_body = || serde_json::from_slice::<Value>(&body).ok();
    let if_match = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method().as_str(), seg.as_slice()) {
        ("POST", ["freeBusy"]) => match json_body() {
            Some(b) => free_busy(&state, &b),
            None => error(StatusCode::BAD_REQUEST, "parseError", "Parse Error"),
        },
        (method, ["calendars", cal, "events", rest @ ..]) => {
            let Some(cal) = calendar_id(&state, cal) else {
                return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
            };
            match (method, rest) {
                ("POST", []) => match json_body() {
                    Some(b) => insert(&state, &cal, b),
                    None => error(StatusCode::BAD_REQUEST, "parseError", "Parse Error"),
                },
                ("GET", []) => list(&state, &cal, &query),
                ("GET", [id]) => get(&state, &cal, id),
                ("PATCH", [id]) => match json_body() {
                    Some(b) => patch(&state, &cal, id, b, if_match.as_deref()),
                    None => error(StatusCode::BAD_REQUEST, "parseError", "Parse Error"),
                },
                ("DELETE", [id]) => delete(&state, &cal, id, if_match.as_deref()),
                _ => error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn calendar_id(state: &State, id: &str) -> Option<String> {
    if id == "primary" {
        return state.calendars.first().cloned();
    }
    state.calendars.iter().find(|c| *c == id).cloned()
}

fn token(state: &State, body: &[u8]) -> HttpResponse {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    match get("grant_type") {
        "refresh_token" => {
            let a = &state.auth;
            if a.client_id.is_empty()
                || get("client_id") != a.client_id
                || get("client_secret") != a.client_secret
            {
                return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
            }
            if get("refresh_token") != a.refresh_token {
                return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            if let Err(why) = check_jwt(state, get("assertion")) {
                return token_error(StatusCode::BAD_REQUEST, "invalid_grant", &why);
            }
        }
        "" => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            )
        }
        _ => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type",
            )
        }
    }
    let token = format!("ya29.{}", new_id());
    state.tokens.lock().insert(token.clone());
    HttpResponse::Ok()
        .json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

/// RFC 7523 as Google applies it: RS256, a known `iss`, `aud` the token URL,
/// `iat`/`exp` current and at most an hour apart, the calendar scope.
fn check_jwt(state: &State, jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return Err(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe".into(),
        );
    };
    let decode = |p: &str| -> Result<Value, String> {
        let raw = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "Invalid JWT encoding".to_string())?;
        serde_json::from_slice(&raw).map_err(|_| "Invalid JWT encoding".to_string())
    };
    let (header, claims) = (decode(header)?, decode(claims)?);
    if header["alg"] != "RS256" {
        return Err("Invalid JWT signature algorithm".into());
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    let Some((_, key)) = state.auth.service_accounts.iter().find(|(e, _)| e == iss) else {
        return Err("Invalid JWT Signature.".into());
    };
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    let base = state.base.lock().clone();
    if claims["aud"].as_str() != Some(&format!("{base}/token")) {
        return Err("Invalid JWT: audience is not the token URL".into());
    }
    let now = Utc::now().timestamp();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if exp <= now || iat > now + 60 || exp - iat > 3600 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes
        .split(' ')
        .any(|s| s.starts_with("https://www.googleapis.com/auth/calendar"))
    {
        return Err("Invalid OAuth scope or ID token audience provided.".into());
    }
    Ok(())
}

fn free_busy(state: &State, b: &Value) -> HttpResponse {
    let parse = |k: &str| {
        b[k].as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(min), Some(max)) = (parse("timeMin"), parse("timeMax")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Missing timeMin or timeMax",
        );
    };
    if max <= min {
        return error(
            StatusCode::BAD_REQUEST,
            "timeRangeEmpty",
            "The specified time range is empty.",
        );
    }
    let events = state.events.lock();
    let mut calendars = Map::new();
    for item in b["items"].as_array().cloned().unwrap_or_default() {
        let asked = item["id"].as_str().unwrap_or_default().to_string();
        let Some(cal) = calendar_id(state, &asked) else {
            calendars.insert(
                asked,
                json!({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}),
            );
            continue;
        };
        let mut held: Vec<(DateTime<Utc>, DateTime<Utc>)> = events
            .iter()
            .filter(|((c, _), s)| *c == cal && live(&s.event) && opaque(&s.event))
            .filter_map(|(_, s)| range_of(&s.event))
            .filter(|(s, e)| *s < max && *e > min)
            .map(|(s, e)| (s.max(min), e.min(max)))
            .collect();
        held.sort();
        // Overlapping periods come back merged, as Google does.
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in held {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let busy: Vec<Value> = merged
            .into_iter()
            .map(|(s, e)| json!({"start": rfc3339(s), "end": rfc3339(e)}))
            .collect();
        calendars.insert(asked, json!({"busy": busy}));
    }
    HttpResponse::Ok().json(json!({
        "kind": "calendar#freeBusy",
        "timeMin": rfc3339(min),
        "timeMax": rfc3339(max),
        "calendars": calendars,
    }))
}

fn insert(state: &State, cal: &str, body: Value) -> HttpResponse {
    let mut e = body.as_object().cloned().unwrap_or_default();
    let Some((start, end)) = range_of(&e) else {
        return error(StatusCode::BAD_REQUEST, "required", "Missing end time.");
    };
    if end <= start {
        return error(
            StatusCode::BAD_REQUEST,
            "timeRangeEmpty",
            "The specified time range is empty.",
        );
    }
    let id = match e.get("id").and_then(Value::as_str) {
        Some(id) if !valid_id(id) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid resource id value.",
            )
        }
        Some(id) => id.to_string(),
        None => new_id(),
    };
    let mut events = state.events.lock();
    let key = (cal.to_string(), id.clone());
    if events.contains_key(&key) {
        return error(
            StatusCode::CONFLICT,
            "duplicate",
            "The requested identifier already exists.",
        );
    }
    e.insert("id".into(), json!(id));
    finish(&mut e, 1);
    events.insert(
        key,
        Stored {
            event: e.clone(),
            version: 1,
        },
    );
    HttpResponse::Ok().json(Value::Object(e))
}

fn list(state: &State, cal: &str, query: &[(String, String)]) -> HttpResponse {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let parse = |k: &str| {
        q(k).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    if q("orderBy") == Some("startTime") && q("singleEvents") != Some("true") {
        return error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "The requested ordering is not available for the particular query.",
        );
    }
    let (min, max) = (parse("timeMin"), parse("timeMax"));
    let props: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k == "privateExtendedProperty")
        .filter_map(|(_, v)| {
            v.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let show_deleted = q("showDeleted") == Some("true");
    let mut items: Vec<Value> = state
        .events
        .lock()
        .iter()
        .filter(|((c, _), s)| *c == cal && (show_deleted || live(&s.event)))
        .filter(|(_, s)| {
            range_of(&s.event)
                .is_some_and(|(s, e)| min.is_none_or(|m| e > m) && max.is_none_or(|m| s < m))
        })
        .filter(|(_, s)| {
            props.iter().all(|(k, v)| {
                s.event
                    .get("extendedProperties")
                    .and_then(|p| p.get("private"))
                    .and_then(|p| p.get(k))
                    .and_then(Value::as_str)
                    == Some(v.as_str())
            })
        })
        .map(|(_, s)| Value::Object(s.event.clone()))
        .collect();
    items.sort_by_key(|e| e.as_object().and_then(range_of).map(|r| r.0));
    let max_results: usize = q("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(250)
        .clamp(1, 2500);
    let skip: usize = q("pageToken").and_then(|p| p.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(skip).take(max_results).cloned().collect();
    let mut answer = json!({"kind": "calendar#events", "summary": cal, "items": page});
    if skip + max_results < items.len() {
        answer["nextPageToken"] = json!((skip + max_results).to_string());
    }
    HttpResponse::Ok().json(answer)
}

fn get(state: &State, cal: &str, id: &str) -> HttpResponse {
    match state.events.lock().get(&(cal.to_string(), id.to_string())) {
        Some(s) => HttpResponse::Ok().json(Value::Object(s.event.clone())),
        None => error(StatusCode::NOT_FOUND, "notFound", "Not Found"),
    }
}

fn stale(s: &Stored, if_match: Option<&str>) -> bool {
    if_match.is_some_and(|m| m != "*" && Some(m) != s.event.get("etag").and_then(Value::as_str))
}

fn patch(state: &State, cal: &str, id: &str, body: Value, if_match: Option<&str>) -> HttpResponse {
    let mut events = state.events.lock();
    let Some(s) = events.get_mut(&(cal.to_string(), id.to_string())) else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    if stale(s, if_match) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "conditionNotMet",
            "Precondition Failed",
        );
    }
    let mut e = s.event.clone();
    for (k, v) in body.as_object().cloned().unwrap_or_default() {
        if !matches!(
            k.as_str(),
            "id" | "etag" | "kind" | "created" | "updated" | "iCalUID"
        ) {
            e.insert(k, v);
        }
    }
    match range_of(&e) {
        Some((a, b)) if b > a => {}
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "timeRangeEmpty",
                "The specified time range is empty.",
            )
        }
    }
    s.version += 1;
    finish(&mut e, s.version);
    s.event = e.clone();
    HttpResponse::Ok().json(Value::Object(e))
}

fn delete(state: &State, cal: &str, id: &str, if_match: Option<&str>) -> HttpResponse {
    let mut events = state.events.lock();
    let Some(s) = events.get_mut(&(cal.to_string(), id.to_string())) else {
        return error(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    if !live(&s.event) {
        return error(StatusCode::GONE, "deleted", "Resource has been deleted");
    }
    if stale(s, if_match) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "conditionNotMet",
            "Precondition Failed",
        );
    }
    s.version += 1;
    s.event.insert("status".into(), json!("cancelled"));
    let mut e = s.event.clone();
    finish(&mut e, s.version);
    s.event = e;
    HttpResponse::NoContent().finish()
}
