//! Google Calendar API v3: `freeBusy` for held time, `events.insert`,
//! `events.list`, `events.get`, `events.patch` (with `If-Match`) and
//! `events.delete`, authorised with OAuth 2 (a service account's RS256 JWT
//! or a refresh token) against a configurable token URL.
//!
//! Google accepts overlapping events, so a booking is made race-free like
//! the CalDAV one: the event is inserted under an id we choose (a second
//! insert of it is a 409), then the range is listed again; any other event
//! there means ours is deleted and the answer is a conflict.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::oauth::{self, Grant, TokenSource};
use super::remote::{self, check_range, rfc3339, Answer, JsonApi, FIND_AHEAD_DAYS};
use super::{Booking, BookingRequest, Calendar, CalendarError, CalendarFuture, Interval};
use crate::config::calendar::GoogleConfig;

const KIND: &str = "google";
const SCOPE: &str = "https://www.googleapis.com/auth/calendar";

pub struct GoogleCalendar {
    api: JsonApi,
    base: url::Url,
    calendar_id: String,
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(t) = v["dateTime"].as_str() {
        return DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(v["date"].as_str()?, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The range an event resource holds, unless it is cancelled or "free".
fn held(event: &Value) -> Option<Interval> {
    if event["status"] == "cancelled" || event["transparency"] == "transparent" {
        return None;
    }
    let (start, end) = (parse_time(&event["start"])?, parse_time(&event["end"])?);
    (end > start).then(|| Interval::new(start, end))
}

fn booking_of(event: &Value) -> Option<Booking> {
    let p = &event["extendedProperties"]["private"];
    let h = held(event)?;
    Some(Booking {
        id: event["id"].as_str()?.to_string(),
        service: p["frontdeskService"].as_str()?.to_string(),
        start: h.start,
        end: h.end,
        name: p["frontdeskName"].as_str().unwrap_or_default().to_string(),
        phone: p["frontdeskPhone"].as_str()?.to_string(),
        purpose: p["frontdeskPurpose"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

impl GoogleCalendar {
    pub fn new(config: &GoogleConfig, timeout: std::time::Duration) -> Result<Self, CalendarError> {
        let http = remote::client(timeout)?;
        let grant = match &config.private_key {
            Some(key) if !key.is_empty() && !config.client_email.is_empty() => {
                Grant::ServiceAccount {
                    client_email: config.client_email.clone(),
                    key: Box::new(oauth::service_account_key(key)?),
                    scope: SCOPE.into(),
                }
            }
            _ => Grant::RefreshToken {
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone().unwrap_or_default(),
                refresh_token: config.refresh_token.clone().unwrap_or_default(),
            },
        };
        let mut base = config.base_url.trim().to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(GoogleCalendar {
            api: JsonApi {
                kind: KIND,
                tokens: TokenSource::new(KIND, http.clone(), config.token_url.clone(), grant),
                http,
            },
            base: url::Url::parse(&base).map_err(|_| {
                CalendarError::Invalid("calendar.google.base_url is not a URL".into())
            })?,
            calendar_id: config.calendar_id.clone(),
        })
    }

    /// `{base}/<segments…>`, each segment percent-encoded (calendar ids
    /// carry `@`, event ids come from the model).
    fn url(&self, segments: &[&str]) -> Result<url::Url, CalendarError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                CalendarError::Invalid("calendar.google.base_url cannot be a base".into())
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn events_url(&self, id: Option<&str>) -> Result<url::Url, CalendarError> {
        match id {
            None => self.url(&["calendars", &self.calendar_id, "events"]),
            Some(id) => self.url(&["calendars", &self.calendar_id, "events", id]),
        }
    }

    /// `events.list` of single events (recurrences expanded) in the window.
    async fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        phone: Option<&str>,
    ) -> Result<Vec<Value>, CalendarError> {
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = self.events_url(None)?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("timeMin", &rfc3339(from))
                    .append_pair("timeMax", &rfc3339(to))
                    .append_pair("singleEvents", "true")
                    .append_pair("orderBy", "startTime")
                    .append_pair("maxResults", "250");
                if let Some(p) = phone {
                    q.append_pair("privateExtendedProperty", &format!("frontdeskPhone={p}"));
                }
                if let Some(t) = &page {
                    q.append_pair("pageToken", t);
                }
            }
            let a = self.api.send(Method::GET, url, None, &[]).await?;
            if !a.code.is_success() {
                return Err(self.api.fail("events.list", &a));
            }
            items.extend(a.body["items"].as_array().cloned().unwrap_or_default());
            match a.body["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page = Some(t.to_string()),
                _ => return Ok(items),
            }
        }
    }

    async fn get(&self, id: &str) -> Result<(Value, Booking), CalendarError> {
        let a = self
            .api
            .send(Method::GET, self.events_url(Some(id))?, None, &[])
            .await?;
        match a.code {
            c if c.is_success() => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Err(CalendarError::NotFound),
            _ => return Err(self.api.fail("events.get", &a)),
        }
        let booking = booking_of(&a.body).ok_or(CalendarError::NotFound)?;
        Ok((a.body, booking))
    }

    async fn delete(&self, id: &str) -> Result<(), CalendarError> {
        let a = self
            .api
            .send(Method::DELETE, self.events_url(Some(id))?, None, &[])
            .await?;
        match a.code {
            c if c.is_success() => Ok(()),
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(CalendarError::NotFound),
            _ => Err(self.api.fail("events.delete", &a)),
        }
    }

    /// Whether an event other than `ours` holds part of `range`.
    async fn taken(&self, range: Interval, ours: &str) -> Result<bool, CalendarError> {
        Ok(self
            .list(range.start, range.end, None)
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
    ) -> Result<Answer, CalendarError> {
        let body = json!({
            "start": {"dateTime": rfc3339(start)},
            "end": {"dateTime": rfc3339(end)},
        });
        self.api
            .send(
                Method::PATCH,
                self.events_url(Some(id))?,
                Some(&body),
                &[("If-Match", etag)],
            )
            .await
    }
}

impl Calendar for GoogleCalendar {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn busy(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarFuture<'_, Vec<Interval>> {
        Box::pin(async move {
            let body = json!({
                "timeMin": rfc3339(from),
                "timeMax": rfc3339(to),
                "items": [{"id": self.calendar_id}],
            });
            let a = self
                .api
                .send(Method::POST, self.url(&["freeBusy"])?, Some(&body), &[])
                .await?;
            if !a.code.is_success() {
                return Err(self.api.fail("freeBusy", &a));
            }
            let cal = &a.body["calendars"][&self.calendar_id];
            if let Some(reason) = cal["errors"][0]["reason"].as_str() {
                return Err(remote::status(
                    KIND,
                    "freeBusy",
                    StatusCode::BAD_GATEWAY,
                    reason,
                ));
            }
            let busy = cal["busy"]
                .as_array()
                .ok_or_else(|| remote::garbled(KIND, "freeBusy answer", "no busy list"))?;
            let mut out = Vec::new();
            for b in busy {
                let parse = |k: &str| {
                    b[k].as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&Utc))
                };
                match (parse("start"), parse("end")) {
                    (Some(s), Some(e)) if e > s => out.push(Interval::new(s, e)),
                    _ => return Err(remote::garbled(KIND, "busy range", b)),
                }
            }
            out.sort_by_key(|i| (i.start, i.end));
            Ok(out)
        })
    }

    fn book(&self, request: BookingRequest) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            check_range(request.start, request.end)?;
            // base32hex (0-9, a-v) ids are ours to choose; hex is a subset.
            let id = remote::new_uid().replace("frontdesk-", "fd");
            let purpose = request.purpose.trim().to_string();
            let body = json!({
                "id": id,
                "summary": format!("{}: {}", request.service, request.name),
                "description": format!(
                    "Booked by phone.\nName: {}\nPhone: {}\nPurpose: {}",
                    request.name, request.phone, purpose
                ),
                "start": {"dateTime": rfc3339(request.start)},
                "end": {"dateTime": rfc3339(request.end)},
                "transparency": "opaque",
                "extendedProperties": {"private": {
                    "frontdeskService": request.service,
                    "frontdeskName": request.name,
                    "frontdeskPhone": request.phone,
                    "frontdeskPurpose": purpose,
                }},
            });
            let a = self
                .api
                .send(Method::POST, self.events_url(None)?, Some(&body), &[])
                .await?;
            if a.code == StatusCode::CONFLICT {
                return Err(CalendarError::Conflict(
                    "the calendar already holds an event under that id".into(),
                ));
            }
            if !a.code.is_success() {
                return Err(self.api.fail("events.insert", &a));
            }
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
                .list(from, to, Some(&phone))
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
            let etag = event["etag"].as_str().unwrap_or("*").to_string();
            let a = self.patch_times(&id, &etag, start, end).await?;
            match a.code {
                c if c.is_success() => {}
                StatusCode::PRECONDITION_FAILED => {
                    return Err(CalendarError::Conflict(
                        "the booking was changed by someone else meanwhile".into(),
                    ))
                }
                StatusCode::NOT_FOUND | StatusCode::GONE => return Err(CalendarError::NotFound),
                _ => return Err(self.api.fail("events.patch", &a)),
            }
            let range = Interval::new(start, end);
            let taken = self.taken(range, &id).await;
            if matches!(taken, Ok(false)) {
                return Ok(Booking { start, end, ..old });
            }
            // Move it back where it was.
            let new_etag = a.body["etag"].as_str().unwrap_or("*").to_string();
            let back = self.patch_times(&id, &new_etag, old.start, old.end).await?;
            if !back.code.is_success() {
                return Err(self.api.fail("events.patch (undo)", &back));
            }
            taken?;
            Err(remote::clash())
        })
    }
}
