//! A stand-in for Microsoft Graph v1.0 calendars and the Microsoft identity
//! platform's token endpoint, from their public references: the
//! client-credentials grant (`/{tenant}/oauth2/v2.0/token`, scope
//! `https://graph.microsoft.com/.default`), bearer tokens on every call,
//! `calendar/getSchedule` (schedule items and the availability view),
//! `calendar/events` (create, with `transactionId` idempotency),
//! `calendar/calendarView` (paged, `$expand` of single-value extended
//! properties), `events/{id}` get / update (`If-Match` against
//! `@odata.etag`: 412) / delete, and Graph's `{"error": {code, message}}`.
//!
//! Like Graph it accepts overlapping events. Times are kept and returned in
//! UTC (what `Prefer: outlook.timezone="UTC"` asks for); a request in
//! another time zone is refused. Runs on actix-web.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, NaiveDateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

/// The app registration the simulator accepts, and its mailbox.
#[derive(Clone, Default)]
pub struct GraphAuth {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The mailbox (`desk@example.com`) whose calendar is served.
    pub user: String,
}

#[derive(Clone)]
struct Stored {
    event: Map<String, Value>,
    version: u64,
}

struct State {
    auth: GraphAuth,
    tokens: Mutex<HashSet<String>>,
    events: Mutex<BTreeMap<String, Stored>>,
    down: Mutex<bool>,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<String>>,
    base: Mutex<String>,
}

pub struct GraphSim;

#[derive(Clone)]
pub struct GraphHandle {
    base: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl GraphSim {
    pub async fn start(auth: GraphAuth) -> std::io::Result<GraphHandle> {
        let state = Arc::new(State {
            auth,
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
            .ok_or_else(|| std::io::Error::other("the Graph simulator bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        let base = format!("http://{addr}");
        *state.base.lock() = base.clone();
        Ok(GraphHandle {
            base,
            state,
            server: handle,
        })
    }
}

impl GraphHandle {
    /// In place of `https://graph.microsoft.com/v1.0`.
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    /// In place of `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{{tenant}}/oauth2/v2.0/token", self.base)
    }

    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().clear();
    }

    pub fn set_down(&self, down: bool) {
        *self.state.down.lock() = down;
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock() = delay;
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().clone()
    }

    /// Adds an event as a person would in Outlook.
    pub fn insert(&self, event: Value) -> String {
        let mut e = event.as_object().cloned().unwrap_or_default();
        let id = new_id();
        e.insert("id".into(), json!(id));
        finish(&mut e, 1);
        self.state.events.lock().insert(
            id.clone(),
            Stored {
                event: e,
                version: 1,
            },
        );
        id
    }

    /// The events of the mailbox's calendar, as stored.
    pub fn events(&self) -> Vec<Value> {
        self.state
            .events
            .lock()
            .values()
            .map(|s| Value::Object(s.event.clone()))
            .collect()
    }

    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

fn new_id() -> String {
    use base64::Engine as _;
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    format!(
        "AAMkAG{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn error(code: StatusCode, error: &str, message: &str) -> HttpResponse {
    HttpResponse::build(code).json(json!({"error": {
        "code": error,
        "message": message,
        "innerError": {"date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(), "request-id": new_id()},
    }}))
}

/// Graph's `dateTimeTimeZone`, UTC only here.
fn time_of(v: Option<&Value>) -> Result<DateTime<Utc>, String> {
    let v = v.ok_or("missing dateTimeTimeZone")?;
    let tz = v["timeZone"].as_str().unwrap_or_default();
    if !tz.eq_ignore_ascii_case("UTC") {
        return Err(format!(
            "the simulator only keeps UTC, got time zone {tz:?}"
        ));
    }
    let raw = v["dateTime"].as_str().ok_or("missing dateTime")?;
    NaiveDateTime::parse_from_str(raw.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .map(|n| n.and_utc())
        .map_err(|_| format!("cannot read dateTime {raw:?}"))
}

/// Seven fractional digits, as Graph writes them (`…T08:00:00.0000000`).
fn seven_digits(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

fn graph_time(t: DateTime<Utc>) -> Value {
    json!({"dateTime": seven_digits(t), "timeZone": "UTC"})
}

fn range_of(e: &Map<String, Value>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((time_of(e.get("start")).ok()?, time_of(e.get("end")).ok()?))
}

fn finish(e: &mut Map<String, Value>, version: u64) {
    let now = format!("{}Z", seven_digits(Utc::now()));
    let change_key = format!("CK{version:08}");
    e.insert("@odata.etag".into(), json!(format!("W/\"{change_key}\"")));
    e.insert("changeKey".into(), json!(change_key));
    e.entry("createdDateTime").or_insert(json!(now.clone()));
    e.insert("lastModifiedDateTime".into(), json!(now));
    e.entry("isCancelled").or_insert(json!(false));
    e.entry("showAs").or_insert(json!("busy"));
    for k in ["start", "end"] {
        if let Ok(t) = time_of(e.get(k)) {
            e.insert(k.into(), graph_time(t));
        }
    }
}

/// The event as returned: extended properties only when `$expand`ed, and
/// then only those the expand's filter names.
fn view(e: &Map<String, Value>, expand: Option<&str>) -> Value {
    let mut out = e.clone();
    let props = out.remove("singleValueExtendedProperties");
    if let (Some(expand), Some(Value::Array(props))) = (expand, props) {
        if expand.contains("singleValueExtendedProperties") {
            let wanted: Vec<String> = expand
                .split("id eq '")
                .skip(1)
                .filter_map(|s| s.split('\'').next())
                .map(str::to_ascii_lowercase)
                .collect();
            let kept: Vec<Value> = props
                .into_iter()
                .filter(|p| {
                    wanted.is_empty()
                        || p["id"]
                            .as_str()
                            .is_some_and(|id| wanted.contains(&id.to_ascii_lowercase()))
                })
                .collect();
            if !kept.is_empty() {
                out.insert("singleValueExtendedProperties".into(), Value::Array(kept));
            }
        }
    }
    Value::Object(out)
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
            "ServiceNotAvailable",
            "The service is temporarily unavailable.",
        );
    }
    let path = req.path().to_string();
    if let Some(tenant) = path
        .strip_suffix("/oauth2/v2.0/token")
        .map(|t| t.trim_start_matches('/'))
    {
        return token(&state, tenant, &body);
    }
    let Some(rest) = path.strip_prefix("/v1.0/users/") else {
        return error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid version.");
    };
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    match bearer {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            )
        }
        Some(t) if !state.tokens.lock().contains(&t) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )
        }
        Some(_) => {}
    }
    let segs: Vec<String> = rest
        .split('/')
        .map(|s| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let Some((user, rest)) = seg.split_first() else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Resource not found for the segment 'users'.",
        );
    };
    if !user.eq_ignore_ascii_case(&state.auth.user) {
        return error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{user}' is invalid."),
        );
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let q = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let json_body = || serde_json::from_slice::<Value>(&body).ok();
    let if_match = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bad_body = || {
        error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        )
    };
    match (req.method().as_str(), rest) {
        ("POST", ["calendar", "getSchedule"]) => match json_body() {
            Some(b) => schedule(&state, &b),
            None => bad_body(),
        },
        ("POST", ["calendar", "events"] | ["events"]) => match json_body() {
            Some(b) => create(&state, b),
            None => bad_body(),
        },
        ("GET", ["calendar", "calendarView"] | ["calendarView"]) => calendar_view(
            &state,
            q("startDateTime"),
            q("endDateTime"),
            q("$top"),
            q("$skip"),
            q("$expand"),
        ),
        ("GET", ["events", id] | ["calendar", "events", id]) => {
            match state.events.lock().get(*id) {
                Some(s) => HttpResponse::Ok().json(view(&s.event, q("$expand").as_deref())),
                None => not_found(),
            }
        }
        ("PATCH", ["events", id] | ["calendar", "events", id]) => match json_body() {
            Some(b) => update(&state, id, b, if_match.as_deref()),
            None => bad_body(),
        },
        ("DELETE", ["events", id] | ["calendar", "events", id]) => {
            let mut events = state.events.lock();
            match events.get(*id) {
                None => not_found(),
                Some(s) if stale(s, if_match.as_deref()) => precondition(),
                Some(_) => {
                    events.remove(*id);
                    HttpResponse::NoContent().finish()
                }
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unsupported segment type.",
        ),
    }
}

fn not_found() -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn precondition() -> HttpResponse {
    error(
        StatusCode::PRECONDITION_FAILED,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
    )
}

fn stale(s: &Stored, if_match: Option<&str>) -> bool {
    if_match
        .is_some_and(|m| m != "*" && Some(m) != s.event.get("@odata.etag").and_then(Value::as_str))
}

fn token(state: &State, tenant: &str, body: &[u8]) -> HttpResponse {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let fail = |code: StatusCode, err: &str, aadsts: u32, what: &str| {
        HttpResponse::build(code).json(json!({
            "error": err,
            "error_description": format!("AADSTS{aadsts}: {what}"),
            "error_codes": [aadsts],
            "timestamp": Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        }))
    };
    let a = &state.auth;
    if tenant != a.tenant_id {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            "Tenant not found.",
        );
    }
    if get("grant_type") != "client_credentials" {
        return fail(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if get("client_id") != a.client_id {
        return fail(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if get("client_secret") != a.client_secret {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    if get("scope") != "https://graph.microsoft.com/.default" {
        return fail(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.");
    }
    let token = format!("eyJ0eXAiOiJKV1Qi.{}", new_id());
    state.tokens.lock().insert(token.clone());
    HttpResponse::Ok().json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
}

fn schedule(state: &State, b: &Value) -> HttpResponse {
    let (start, end) = match (time_of(b.get("startTime")), time_of(b.get("endTime"))) {
        (Ok(s), Ok(e)) if e > s => (s, e),
        (Err(m), _) | (_, Err(m)) => {
            return error(StatusCode::BAD_REQUEST, "ErrorInvalidParameter", &m)
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                "The end time must be after the start time.",
            )
        }
    };
    let interval = b["availabilityViewInterval"].as_i64().unwrap_or(30);
    if !(5..=1440).contains(&interval) {
        return error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "availabilityViewInterval must be between 5 and 1440.",
        );
    }
    let events = state.events.lock();
    let mut value = Vec::new();
    for who in b["schedules"].as_array().cloned().unwrap_or_default() {
        let who = who.as_str().unwrap_or_default().to_string();
        if !who.eq_ignore_ascii_case(&state.auth.user) {
            value.push(json!({"scheduleId": who, "availabilityView": "", "scheduleItems": [],
                "error": {"message": "The user or mailbox was not found.", "responseCode": "ErrorMailboxNotFound"}}));
            continue;
        }
        let mut items: Vec<(DateTime<Utc>, DateTime<Utc>, String, Value)> = events
            .values()
            .filter(|s| s.event.get("isCancelled") != Some(&json!(true)))
            .filter_map(|s| {
                let (a, z) = range_of(&s.event)?;
                let status = s
                    .event
                    .get("showAs")
                    .and_then(Value::as_str)
                    .unwrap_or("busy")
                    .to_string();
                (a < end && z > start && status != "free").then(|| {
                    (
                        a,
                        z,
                        status,
                        s.event.get("subject").cloned().unwrap_or(json!("")),
                    )
                })
            })
            .collect();
        items.sort_by_key(|i| i.0);
        let code = |s: &str| match s {
            "tentative" => 1,
            "busy" => 2,
            "oof" => 3,
            "workingElsewhere" => 4,
            _ => 0,
        };
        let step = chrono::Duration::minutes(interval);
        let mut view = String::new();
        let mut t = start;
        while t < end {
            let slot_end = (t + step).min(end);
            let level = items
                .iter()
                .filter(|(a, z, _, _)| *a < slot_end && *z > t)
                .map(|(_, _, s, _)| code(s))
                .max()
                .unwrap_or(0);
            view.push(char::from(b'0' + level));
            t = slot_end;
        }
        let schedule_items: Vec<Value> = items
            .into_iter()
            .map(|(a, z, status, subject)| {
                json!({
                    "isPrivate": false, "status": status, "subject": subject, "location": "",
                    "start": graph_time(a), "end": graph_time(z),
                })
            })
            .collect();
        value.push(json!({
            "scheduleId": who,
            "availabilityView": view,
            "scheduleItems": schedule_items,
            "workingHours": {"daysOfWeek": ["monday","tuesday","wednesday","thursday","friday"],
                "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                "timeZone": {"name": "UTC"}},
        }));
    }
    HttpResponse::Ok().json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
        "value": value,
    }))
}

fn create(state: &State, body: Value) -> HttpResponse {
    let mut e = body.as_object().cloned().unwrap_or_default();
    let (start, end) = match (time_of(e.get("start")), time_of(e.get("end"))) {
        (Ok(s), Ok(z)) => (s, z),
        (Err(m), _) | (_, Err(m)) => {
            return error(StatusCode::BAD_REQUEST, "ErrorInvalidRequest", &m)
        }
    };
    if end < start {
        return error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The end time must not be before the start time.",
        );
    }
    let mut events = state.events.lock();
    if let Some(tx) = e.get("transactionId").and_then(Value::as_str) {
        if let Some(s) = events
            .values()
            .find(|s| s.event.get("transactionId").and_then(Value::as_str) == Some(tx))
        {
            return HttpResponse::Created().json(view(&s.event, None));
        }
    }
    let id = new_id();
    e.insert("id".into(), json!(id));
    finish(&mut e, 1);
    events.insert(
        id,
        Stored {
            event: e.clone(),
            version: 1,
        },
    );
    HttpResponse::Created().json(view(&e, None))
}

fn calendar_view(
    state: &State,
    start: Option<String>,
    end: Option<String>,
    top: Option<String>,
    skip: Option<String>,
    expand: Option<String>,
) -> HttpResponse {
    let parse = |s: Option<String>| {
        s.and_then(|s| {
            DateTime::parse_from_rfc3339(&s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
                .or_else(|| {
                    NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|n| n.and_utc())
                })
        })
    };
    let (Some(from), Some(to)) = (parse(start), parse(end)) else {
        return error(StatusCode::BAD_REQUEST, "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
    };
    let mut items: Vec<(DateTime<Utc>, Value)> = state
        .events
        .lock()
        .values()
        .filter_map(|s| {
            let (a, z) = range_of(&s.event)?;
            (a < to && z > from).then(|| (a, view(&s.event, expand.as_deref())))
        })
        .collect();
    items.sort_by_key(|(a, _)| *a);
    let top: usize = top
        .and_then(|t| t.parse().ok())
        .unwrap_or(10)
        .clamp(1, 1000);
    let skip: usize = skip.and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(top)
        .map(|(_, v)| v.clone())
        .collect();
    let mut answer = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('desk')/calendar/calendarView",
        "value": page,
    });
    if skip + top < items.len() {
        let Ok(mut next) = url::Url::parse(&format!(
            "{}/v1.0/users/{}/calendar/calendarView",
            state.base.lock(),
            state.auth.user
        )) else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "bad base URL",
            );
        };
        {
            let mut q = next.query_pairs_mut();
            q.append_pair("startDateTime", &from.to_rfc3339())
                .append_pair("endDateTime", &to.to_rfc3339())
                .append_pair("$top", &top.to_string())
                .append_pair("$skip", &(skip + top).to_string());
            if let Some(x) = &expand {
                q.append_pair("$expand", x);
            }
        }
        answer["@odata.nextLink"] = json!(next.to_string());
    }
    HttpResponse::Ok().json(answer)
}

fn update(state: &State, id: &str, body: Value, if_match: Option<&str>) -> HttpResponse {
    let mut events = state.events.lock();
    let Some(s) = events.get_mut(id) else {
        return not_found();
    };
    if stale(s, if_match) {
        return precondition();
    }
    let mut e = s.event.clone();
    for (k, v) in body.as_object().cloned().unwrap_or_default() {
        if !matches!(
            k.as_str(),
            "id" | "@odata.etag" | "changeKey" | "createdDateTime" | "lastModifiedDateTime"
        ) {
            e.insert(k, v);
        }
    }
    match range_of(&e) {
        Some((a, z)) if z >= a => {}
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "The end time must not be before the start time.",
            )
        }
    }
    s.version += 1;
    finish(&mut e, s.version);
    s.event = e.clone();
    HttpResponse::Ok().json(view(&e, None))
}
