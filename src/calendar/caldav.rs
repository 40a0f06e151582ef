//! A CalDAV calendar collection (RFC 4791): Nextcloud, Fastmail, iCloud,
//! Radicale. Reads with `REPORT calendar-query` (recurring events expanded
//! by the server), creates with `PUT` + `If-None-Match: *`, removes with
//! `DELETE` + `If-Match: <etag>`.
//!
//! CalDAV has no "refuse overlapping events", so a booking is made race-free
//! by a re-check after writing: if any other event holds part of the range
//! once ours is stored, ours is deleted again and the answer is
//! [`CalendarError::Conflict`]. Two simultaneous bookings of one slot can
//! therefore both lose (each sees the other), never both win.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};

use super::remote::{self, check_range, FIND_AHEAD_DAYS};
use super::{ical, Booking, BookingRequest, Calendar, CalendarError, CalendarFuture, Interval};
use crate::config::calendar::CalDavConfig;
use crate::config::Secret;

const KIND: &str = "caldav";

pub struct CalDavCalendar {
    http: reqwest::Client,
    /// The collection, ending in `/`.
    url: url::Url,
    username: String,
    password: Secret,
}

/// One calendar object of a multistatus answer.
#[derive(Debug, Clone, Default, PartialEq)]
struct Resource {
    href: String,
    etag: Option<String>,
    data: String,
}

impl Resource {
    /// The resource's name in the collection: the booking id.
    fn name(&self) -> String {
        self.href
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl CalDavCalendar {
    pub fn new(config: &CalDavConfig, timeout: std::time::Duration) -> Result<Self, CalendarError> {
        let mut raw = config.url.trim().to_string();
        if !raw.ends_with('/') {
            raw.push('/');
        }
        let url = url::Url::parse(&raw)
            .map_err(|_| CalendarError::Invalid("calendar.caldav.url is not a URL".into()))?;
        Ok(CalDavCalendar {
            http: remote::client(timeout)?,
            url,
            username: config.username.clone(),
            password: config.password.clone().unwrap_or_default(),
        })
    }

    fn request(&self, method: Method, url: url::Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.username, Some(self.password.expose()))
    }

    /// The URL of the booking `id` (a resource name, never a path).
    fn resource_url(&self, id: &str) -> Result<url::Url, CalendarError> {
        let id = id.trim();
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(CalendarError::NotFound);
        }
        self.url.join(id).map_err(|_| CalendarError::NotFound)
    }

    /// `REPORT calendar-query` for VEVENTs overlapping `[from, to)`;
    /// `expand` asks for recurring events as their instances.
    async fn query(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        expand: bool,
    ) -> Result<Vec<Resource>, CalendarError> {
        let (s, e) = (ical::utc_stamp(from), ical::utc_stamp(to));
        let data = if expand {
            format!(r#"<C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data>"#)
        } else {
            "<C:calendar-data/>".to_string()
        };
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/>{data}</D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{s}" end="{e}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#
        );
        let method =
            Method::from_bytes(b"REPORT").map_err(|e| remote::garbled(KIND, "method", e))?;
        let res = self
            .request(method, self.url.clone())
            .header("Depth", "1")
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| remote::transport(KIND, e))?;
        let code = res.status();
        let text = res.text().await.map_err(|e| remote::transport(KIND, e))?;
        if code != StatusCode::MULTI_STATUS {
            return Err(remote::status(KIND, "the calendar query", code, &text));
        }
        multistatus(&text).map_err(|e| remote::garbled(KIND, "calendar query answer", e))
    }

    async fn get(&self, id: &str) -> Result<(Resource, Booking), CalendarError> {
        let url = self.resource_url(id)?;
        let res = self
            .request(Method::GET, url.clone())
            .send()
            .await
            .map_err(|e| remote::transport(KIND, e))?;
        let code = res.status();
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await.map_err(|e| remote::transport(KIND, e))?;
        match code {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Err(CalendarError::NotFound),
            other => return Err(remote::status(KIND, "reading the booking", other, &text)),
        }
        let booking = ical::vevents(&text)
            .first()
            .and_then(|v| v.booking(id))
            .ok_or(CalendarError::NotFound)?;
        Ok((
            Resource {
                href: url.path().to_string(),
                etag,
                data: text,
            },
            booking,
        ))
    }

    /// `DELETE` guarded by the ETag we read; `Ok(false)` when it changed.
    async fn delete(&self, id: &str, etag: Option<&str>) -> Result<bool, CalendarError> {
        let mut req = self.request(Method::DELETE, self.resource_url(id)?);
        if let Some(etag) = etag {
            req = req.header("If-Match", etag);
        }
        let res = req.send().await.map_err(|e| remote::transport(KIND, e))?;
        match res.status() {
            c if c.is_success() => Ok(true),
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(CalendarError::NotFound),
            StatusCode::PRECONDITION_FAILED => Ok(false),
            other => {
                let text = res.text().await.unwrap_or_default();
                Err(remote::status(KIND, "deleting the booking", other, &text))
            }
        }
    }

    /// Stores `booking` as a new event, then checks nothing else holds its
    /// range (`own` is the booking being moved, which may).
    async fn write_new(
        &self,
        booking: Booking,
        own: Option<&str>,
    ) -> Result<Booking, CalendarError> {
        check_range(booking.start, booking.end)?;
        let uid = remote::new_uid();
        let id = format!("{uid}.ics");
        let res = self
            .request(Method::PUT, self.resource_url(&id)?)
            .header("If-None-Match", "*")
            .header("Content-Type", "text/calendar; charset=utf-8")
            .body(ical::event(&uid, &booking, Utc::now()))
            .send()
            .await
            .map_err(|e| remote::transport(KIND, e))?;
        let code = res.status();
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if code == StatusCode::PRECONDITION_FAILED {
            return Err(CalendarError::Conflict(
                "the calendar already holds an event under that id".into(),
            ));
        }
        if !code.is_success() {
            let text = res.text().await.unwrap_or_default();
            let quoted: String = text.chars().take(200).collect();
            let err = CalendarError::Unavailable(format!(
                "caldav calendar rejected the event ({code}): {}",
                quoted.trim()
            ));
            tracing::warn!(calendar = KIND, error = %err, "event rejected");
            return Err(err);
        }
        let held = Interval::new(booking.start, booking.end);
        let others = match self.query(held.start, held.end, true).await {
            Ok(found) => found,
            Err(e) => {
                // Unverified: do not leave a booking nobody was told about.
                let _ = self.delete(&id, etag.as_deref()).await;
                return Err(e);
            }
        };
        let taken = others.iter().any(|r| {
            let name = r.name();
            name != id
                && Some(name.as_str()) != own
                && ical::vevents(&r.data)
                    .iter()
                    .filter_map(ical::Vevent::held)
                    .any(|i| i.overlaps(&held))
        });
        if taken {
            let _ = self.delete(&id, None).await;
            return Err(remote::clash());
        }
        Ok(Booking { id, ..booking })
    }
}

impl Calendar for CalDavCalendar {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn busy(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarFuture<'_, Vec<Interval>> {
        Box::pin(async move {
            let window = Interval::new(from, to);
            let mut held: Vec<Interval> = self
                .query(from, to, true)
                .await?
                .iter()
                .flat_map(|r| ical::vevents(&r.data))
                .filter_map(|v| v.held())
                .filter(|i| i.overlaps(&window))
                .collect();
            held.sort_by_key(|i| (i.start, i.end));
            held.dedup();
            Ok(held)
        })
    }

    fn book(&self, request: BookingRequest) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            let booking = Booking {
                id: String::new(),
                service: request.service,
                start: request.start,
                end: request.end,
                name: request.name,
                phone: request.phone,
                purpose: request.purpose.trim().to_string(),
            };
            self.write_new(booking, None).await
        })
    }

    fn cancel(&self, id: String) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            // One retry: the event may change between reading and deleting.
            for _ in 0..2 {
                let (res, booking) = self.get(&id).await?;
                if self.delete(&id, res.etag.as_deref()).await? {
                    return Ok(booking);
                }
            }
            Err(CalendarError::Unavailable(
                "the booking kept changing in the calendar while cancelling".into(),
            ))
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
                .query(from, to, false)
                .await?
                .iter()
                .filter_map(|r| {
                    ical::vevents(&r.data)
                        .first()
                        .and_then(|v| v.booking(&r.name()))
                })
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
            let (old_res, old) = self.get(&id).await?;
            let moved = self
                .write_new(
                    Booking {
                        start,
                        end,
                        ..old.clone()
                    },
                    Some(&id),
                )
                .await?;
            // The new hold is in place; release the old one, or undo.
            let released = match self.delete(&id, old_res.etag.as_deref()).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(CalendarError::Conflict(
                    "the booking was changed by someone else meanwhile".into(),
                )),
                Err(e) => Err(e),
            };
            match released {
                Ok(()) => Ok(moved),
                Err(e) => {
                    let _ = self.delete(&moved.id, None).await;
                    Err(e)
                }
            }
        })
    }
}

/// The `response`s of a WebDAV multistatus (RFC 4918 13), whatever the
/// namespace prefixes; responses without calendar data are skipped.
fn multistatus(xml: &str) -> Result<Vec<Resource>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<Resource> = None;
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"response" => current = Some(Resource::default()),
                    b"href" => field = Some("href"),
                    b"getetag" => field = Some("etag"),
                    b"calendar-data" => field = Some("data"),
                    _ => {}
                }
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_string()
                    }
                };
                text.push_str(&resolved);
            }
            Event::End(e) => {
                let name = e.local_name();
                if let (Some(f), Some(res)) = (field, current.as_mut()) {
                    let done = matches!(
                        (f, name.as_ref()),
                        ("href", b"href") | ("etag", b"getetag") | ("data", b"calendar-data")
                    );
                    if done {
                        let value = std::mem::take(&mut text);
                        match f {
                            "href" if res.href.is_empty() => res.href = value.trim().to_string(),
                            "etag" => res.etag = Some(value.trim().to_string()),
                            "data" => res.data = value,
                            _ => {}
                        }
                        field = None;
                    }
                }
                if name.as_ref() == b"response" {
                    if let Some(res) = current.take() {
                        if !res.data.is_empty() {
                            out.push(res);
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_is_read_whatever_the_prefixes() {
        let xml = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/desk/cal/a.ics</href>
  <propstat><prop><getetag>"e1"</getetag>
   <C:calendar-data>BEGIN:VCALENDAR&#13;
BEGIN:VEVENT&#13;
SUMMARY:A &amp; B&#13;
END:VEVENT&#13;
END:VCALENDAR&#13;
</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/desk/cal/</href><propstat><prop/><status>HTTP/1.1 404 Not Found</status></propstat></response>
</multistatus>"#;
        let got = multistatus(xml).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name(), "a.ics");
        assert_eq!(got[0].etag.as_deref(), Some("\"e1\""));
        assert!(got[0].data.contains("SUMMARY:A & B"), "{:?}", got[0].data);
        assert!(multistatus("<multistatus><response></a>").is_err());
    }
}
