//! Microsoft 365 through Microsoft Graph v1.0: `calendar/getSchedule` for
//! held time, `calendar/events` to create, `calendarView` to list,
//! `events/{id}` to read, update (with `If-Match`) and delete; OAuth 2
//! client credentials against a configurable token URL.
//!
//! Graph accepts overlapping events too: after creating, the range is read
//! back through `calendarView`, and another event there undoes ours (a
//! conflict). The booking's fields travel as single-value extended
//! properties, so a caller's bookings are found exactly.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::oauth::{Grant, TokenSource};
use super::remote::{self, check_range, JsonApi, FIND_AHEAD_DAYS};
use super::{Booking, BookingRequest, Calendar, CalendarError, CalendarFuture, Interval};
use crate::config::calendar::MicrosoftConfig;

const KIND: &str = "microsoft";
const SCOPE: &str = "https://graph.microsoft.com/.default";
/// The property set the booking fields live in (a GUID of our own, as
/// Graph's extended properties require).
const PROPERTY_SET: &str = "{5d8a2f0e-6b1c-4c53-9f3e-2a7f0c1d4e61}";
const FIELDS: [&str; 4] = ["Service", "Name", "Phone", "Purpose"];
/// Ask Graph for times in UTC.
const PREFER_UTC: (&str, &str) = ("Prefer", "outlook.timezone=\"UTC\"");

fn property_id(field: &str) -> String {
    format!("String {PROPERTY_SET} Name frontdesk{field}")
}

pub struct MicrosoftCalendar {
    api: JsonApi,
    base: url::Url,
    user: String,
}

/// Graph's `dateTimeTimeZone` in UTC: `2026-06-01T09:00:00.0000000`.
fn graph_time(t: DateTime<Utc>) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let raw = v["dateTime"].as_str()?;
    let tz = v["timeZone"].as_str().unwrap_or("UTC");
    if !tz.eq_ignore_ascii_case("UTC") {
        return None;
    }
    NaiveDateTime::parse_from_str(raw.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// The range an event holds, unless it is cancelled or shown as free.
fn held(event: &Value) -> Option<Interval> {
    if event["isCancelled"] == true
        || matches!(event["showAs"].as_str(), Some("free" | "workingElsewhere"))
    {
        return None;
    }
    let (s, e) = (parse_time(&event["start"])?, parse_time(&event["end"])?);
    (e > s).then(|| Interval::new(s, e))
}

fn field(event: &Value, name: &str) -> Option<String> {
    let id = property_id(name);
    event["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| {
            p["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        })
        .and_then(|p| p["value"].as_str())
        .map(str::to_string)
}

fn booking_of(event: &Value) -> Option<Booking> {
    let h = held(event)?;
    Some(Booking {
        id: event["id"].as_str()?.to_string(),
        service: field(event, "Service")?,
        start: h.start,
        end: h.end,
        name: field(event, "Name").unwrap_or_default(),
        phone: field(event, "Phone")?,
        purpose: field(event, "Purpose").unwrap_or_default(),
    })
}

/// `$expand` for our extended properties.
fn expand() -> String {
    let filter = FIELDS
        .iter()
        .map(|f| format!("id eq '{}'", property_id(f)))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("singleValueExtendedProperties($filter={filter})")
}

impl MicrosoftCalendar {
    pub fn new(
        config: &MicrosoftConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, CalendarError> {
        let http = remote::client(timeout)?;
        let grant = Grant::ClientCredentials {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone().unwrap_or_default(),
            scope: SCOPE.into(),
        };
        let token_url = config
            .token_url
            .replace("{tenant}", config.tenant_id.trim());
        let mut base = config.base_url.trim().to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(MicrosoftCalendar {
            api: JsonApi {
                kind: KIND,
                tokens: TokenSource::new(KIND, http.clone(), token_url, grant),
                http,
            },
            base: url::Url::parse(&base).map_err(|_| {
                CalendarError::Invalid("calendar.microsoft.base_url is not a URL".into())
            })?,
            user: config.user.clone(),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<url::Url, CalendarError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                CalendarError::Invalid("calendar.microsoft.base_url cannot be a base".into())
            })?
            .pop_if_empty()
            .push("users")
            .push(&self.user)
            .extend(segments);
        Ok(url)
    }

    fn event_url(&self, id: &str) -> Result<url::Url, CalendarError> {
        let mut url = self.url(&["events", id])?;
        url.query_pairs_mut().append_pair("$expand", &expand());
        Ok(url)
    }

    /// `calendarView`: event instances overlapping the window.
    async fn view(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Value>, CalendarError> {
        let mut url = self.url(&["calendar", "calendarView"])?;
        url.query_pairs_mut()
            .append_pair("startDateTime", &remote::rfc3339(from))
            .append_pair("endDateTime", &remote::rfc3339(to))
            .append_pair("$top", "100")
            .append_pair("$expand", &expand());
        let mut items = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let a = self.api.send(Method::GET, url, None, &[PREFER_UTC]).await?;
            if !a.code.is_success() {
                return Err(self.api.fail("calendarView", &a));
            }
            items.extend(a.body["value"].as_array().cloned().unwrap_or_default());
            if let Some(link) = a.body["@odata.nextLink"].as_str() {
                // Only follow links to the configured API.
                let link =
                    url::Url::parse(link).map_err(|e| remote::garbled(KIND, "nextLink", e))?;
                if link.origin() != self.base.origin() {
                    return Err(remote::garbled(KIND, "nextLink", "points elsewhere"));
                }
                next = Some(link);
            }
        }
        Ok(items)
    }

    async fn get(&self, id: &str) -> Result<(Value, Booking), CalendarError> {
        let a = self
            .api
            .send(Method::GET, self.event_url(id)?, None, &[PREFER_UTC])
            .await?;
        match a.code {
            c if c.is_success() => {}
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => return Err(CalendarError::NotFound),
            _ => return Err(self.api.fail("reading the event", &a)),
        }
        let b = booking_of(&a.body).ok_or(CalendarError::NotFound)?;
        Ok((a.body, b))
    }

    async fn delete(&self, id: &str) -> Result<(), CalendarError> {
        let a = self
            .api
            .send(Method::DELETE, self.url(&["events", id])?, None, &[])
            .await?;
        match a.code {
            c if c.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(CalendarError::NotFound),
            _ => Err(self.api.fail("deleting the event", &a)),
        }
    }

    async fn taken(&self, range: Interval, ours: &str) -> Result<bool, CalendarError> {
        Ok(self
            .view(range.start, range.end)
            .await?
            .iter()
            .filter(|e| e["id"].as_str() != Some(ours))
            .filter_map(held)
            .any(|h| h.overlaps(&range)))
    }

    async fn patch_times(
        &self,
        id: &str,
        etag: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<remote::Answer, CalendarError> {
        let body = json!({"start": graph_time(start), "end": graph_time(end)});
        self.api
            .send(
                Method::PATCH,
                self.url(&["events", id])?,
                Some(&body),
                &[("If-Match", etag), PREFER_UTC],
            )
            .await
    }
}

impl Calendar for MicrosoftCalendar {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn busy(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarFuture<'_, Vec<Interval>> {
        Box::pin(async move {
            let body = json!({
                "schedules": [self.user],
                "startTime": graph_time(from),
                "endTime": graph_time(to),
                "availabilityViewInterval": 15,
            });
            let a = self
                .api
                .send(
                    Method::POST,
                    self.url(&["calendar", "getSchedule"])?,
                    Some(&body),
                    &[PREFER_UTC],
                )
                .await?;
            if !a.code.is_success() {
                return Err(self.api.fail("getSchedule", &a));
            }
            let schedule = &a.body["value"][0];
            if let Some(m) = schedule["error"]["message"].as_str() {
                return Err(remote::status(
                    KIND,
                    "getSchedule",
                    StatusCode::BAD_GATEWAY,
                    m,
                ));
            }
            let items = schedule["scheduleItems"]
                .as_array()
                .ok_or_else(|| remote::garbled(KIND, "getSchedule answer", "no scheduleItems"))?;
            let mut out = Vec::new();
            for item in items {
                if matches!(item["status"].as_str(), Some("free" | "workingElsewhere")) {
                    continue;
                }
                match (parse_time(&item["start"]), parse_time(&item["end"])) {
                    (Some(s), Some(e)) if e > s => out.push(Interval::new(s, e)),
                    _ => return Err(remote::garbled(KIND, "schedule item", item)),
                }
            }
            out.sort_by_key(|i| (i.start, i.end));
            Ok(out)
        })
    }

    fn book(&self, request: BookingRequest) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            check_range(request.start, request.end)?;
            let purpose = request.purpose.trim().to_string();
            let values = [&request.service, &request.name, &request.phone, &purpose];
            let props: Vec<Value> = FIELDS
                .iter()
                .zip(values)
                .map(|(f, v)| json!({"id": property_id(f), "value": v}))
                .collect();
            let body = json!({
                "subject": format!("{}: {}", request.service, request.name),
                "body": {"contentType": "text", "content": format!(
                    "Booked by phone.\nName: {}\nPhone: {}\nPurpose: {}",
                    request.name, request.phone, purpose
                )},
                "start": graph_time(request.start),
                "end": graph_time(request.end),
                "showAs": "busy",
                // Graph's idempotency key: a retried POST makes no second event.
                "transactionId": remote::new_uid(),
                "singleValueExtendedProperties": props,
            });
            let a = self
                .api
                .send(
                    Method::POST,
                    self.url(&["calendar", "events"])?,
                    Some(&body),
                    &[PREFER_UTC],
                )
                .await?;
            if a.code == StatusCode::CONFLICT {
                return Err(CalendarError::Conflict(
                    "the calendar refused the event as a conflict".into(),
                ));
            }
            if !a.code.is_success() {
                return Err(self.api.fail("creating the event", &a));
            }
            let id = a.body["id"]
                .as_str()
                .ok_or_else(|| remote::garbled(KIND, "created event", "no id"))?
                .to_string();
            let range = Interval::new(request.start, request.end);
            remote::keep_unless_taken(self.taken(range, &id).await, || self.delete(&id)).await?;
            Ok(Booking {
                id,
                service: request.service,
                start: request.start,
                end: request.end,
                name: request.name,
                phone: request.phone,
                purpose,
            })
        })
    }

    fn cancel(&self, id: String) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            let (_, booking) = self.get(&id).await?;
            self.delete(&id).await?;
            Ok(booking)
        })
    }

    fn find_by_phone(
        &self,
        phone: String,
        from: DateTime<Utc>,
    ) -> CalendarFuture<'_, Vec<Booking>> {
        Box::pin(async move {
            let to = from + Duration::days(FIND_AHEAD_DAYS);
            let mut found: Vec<Booking> = self
                .view(from, to)
                .await?
                .iter()
                .filter_map(booking_of)
                .filter(|b| b.phone == phone && b.end > from)
                .collect();
            found.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
            Ok(found)
        })
    }

    fn reschedule(
        &self,
        id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            check_range(start, end)?;
            let (event, old) = self.get(&id).await?;
            let etag = event["@odata.etag"].as_str().unwrap_or("*").to_string();
            let a = self.patch_times(&id, &etag, start, end).await?;
            match a.code {
                c if c.is_success() => {}
                StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => {
                    return Err(CalendarError::Conflict(
                        "the booking was changed by someone else meanwhile".into(),
                    ))
                }
                StatusCode::NOT_FOUND => return Err(CalendarError::NotFound),
                _ => return Err(self.api.fail("updating the event", &a)),
            }
            let taken = self.taken(Interval::new(start, end), &id).await;
            if matches!(taken, Ok(false)) {
                return Ok(Booking { start, end, ..old });
            }
            let new_etag = a.body["@odata.etag"].as_str().unwrap_or("*").to_string();
            let back = self.patch_times(&id, &new_etag, old.start, old.end).await?;
            if !back.code.is_success() {
                return Err(self.api.fail("updating the event (undo)", &back));
            }
            taken?;
            Err(remote::clash())
        })
    }
}
