//! The bit of iCalendar (RFC 5545) the CalDAV adapter writes and reads:
//! one VEVENT holding a booking (its fields in `X-FRONTDESK-*` properties so
//! they come back exactly), and the held ranges of any VEVENT a person or
//! another program put in the calendar.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::{Booking, Interval};

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// RFC 5545 3.3.11 TEXT escaping.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace(['\n', '\r'], "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines longer than 75 octets are folded (RFC 5545 3.1), on char boundaries.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The VCALENDAR of a booking with `uid`.
pub fn event(uid: &str, b: &Booking, now: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Frontdesk//Calendar adapter//EN".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{uid}"),
        format!("DTSTAMP:{}", now.format(STAMP)),
        format!("CREATED:{}", now.format(STAMP)),
        format!("DTSTART:{}", b.start.format(STAMP)),
        format!("DTEND:{}", b.end.format(STAMP)),
        format!("SUMMARY:{}", escape(&format!("{}: {}", b.service, b.name))),
        format!(
            "DESCRIPTION:{}",
            escape(&format!(
                "Booked by phone.\nName: {}\nPhone: {}\nPurpose: {}",
                b.name, b.phone, b.purpose
            ))
        ),
        "TRANSP:OPAQUE".into(),
        "STATUS:CONFIRMED".into(),
        format!("X-FRONTDESK-SERVICE:{}", escape(&b.service)),
        format!("X-FRONTDESK-NAME:{}", escape(&b.name)),
        format!("X-FRONTDESK-PHONE:{}", escape(&b.phone)),
        format!("X-FRONTDESK-PURPOSE:{}", escape(&b.purpose)),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    let mut out = String::new();
    for l in lines.drain(..) {
        fold(&l, &mut out);
    }
    out
}

/// One property line: name, parameters, value.
#[derive(Debug, Clone)]
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        if !raw.is_empty() {
            lines.push(raw.to_string());
        }
    }
    lines
}

fn parse_prop(line: &str) -> Option<Prop> {
    // The value starts at the first ':' outside a quoted parameter value.
    let mut quoted = false;
    let colon = line.char_indices().find_map(|(i, c)| {
        if c == '"' {
            quoted = !quoted;
        }
        (c == ':' && !quoted).then_some(i)
    })?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?.to_ascii_uppercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_ascii_uppercase(), v.trim_matches('"').to_string()))
        .collect();
    Some(Prop {
        name,
        params,
        value: value.to_string(),
    })
}

/// A VEVENT's properties (not those of its VALARMs).
#[derive(Debug, Default, Clone)]
pub struct Vevent {
    props: Vec<Prop>,
}

impl Vevent {
    fn get(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(|p| unescape(&p.value))
    }

    #[cfg(test)]
    pub fn uid(&self) -> Option<String> {
        self.text("UID")
    }

    pub fn phone(&self) -> Option<String> {
        self.text("X-FRONTDESK-PHONE")
    }

    fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        let p = self.get(name)?;
        parse_time(
            &p.value,
            p.params
                .iter()
                .find(|(k, _)| k == "TZID")
                .map(|(_, v)| v.as_str()),
        )
    }

    /// The range the event holds, or `None` when it holds no time: cancelled,
    /// transparent ("free"), or unreadable.
    pub fn held(&self) -> Option<Interval> {
        if self
            .text("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
            || self
                .text("TRANSP")
                .is_some_and(|s| s.eq_ignore_ascii_case("TRANSPARENT"))
        {
            return None;
        }
        let start = self.time("DTSTART")?;
        let all_day = self.get("DTSTART").is_some_and(|p| {
            p.params.iter().any(|(k, v)| k == "VALUE" && v == "DATE") || p.value.len() == 8
        });
        let end = match self.time("DTEND") {
            Some(end) => end,
            None => match self.text("DURATION").and_then(|d| parse_duration(&d)) {
                Some(d) => start + d,
                None if all_day => start + chrono::Duration::days(1),
                None => start,
            },
        };
        (end > start).then(|| Interval::new(start, end))
    }

    /// The booking this event holds, if the engine wrote it.
    pub fn booking(&self, id: &str) -> Option<Booking> {
        let held = self.held()?;
        Some(Booking {
            id: id.to_string(),
            service: self.text("X-FRONTDESK-SERVICE")?,
            start: held.start,
            end: held.end,
            name: self.text("X-FRONTDESK-NAME").unwrap_or_default(),
            phone: self.phone()?,
            purpose: self.text("X-FRONTDESK-PURPOSE").unwrap_or_default(),
        })
    }
}

/// The VEVENTs of a calendar object (each expanded instance of a recurring
/// event is one).
pub fn vevents(text: &str) -> Vec<Vevent> {
    let mut out = Vec::new();
    let mut current: Option<Vevent> = None;
    let mut nested = 0usize;
    for line in unfold(text) {
        let Some(p) = parse_prop(&line) else { continue };
        match (p.name.as_str(), p.value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VEVENT") => current = Some(Vevent::default()),
            ("END", "VEVENT") => out.extend(current.take()),
            ("BEGIN", _) if current.is_some() => nested += 1,
            ("END", _) if current.is_some() => nested = nested.saturating_sub(1),
            _ => {
                if let Some(ev) = current.as_mut() {
                    if nested == 0 {
                        ev.props.push(p);
                    }
                }
            }
        }
    }
    out
}

/// `20260601T090000Z`, `20260601T090000` with a TZID (or floating: UTC),
/// `20260601` (a date: from midnight UTC).
fn parse_time(value: &str, tzid: Option<&str>) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Some(utc) = v.strip_suffix('Z') {
        let n = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Utc.from_utc_datetime(&n));
    }
    if v.len() == 8 {
        let d = NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    let n = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()?;
    match tzid.and_then(|t| t.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => tz
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        None => Some(Utc.from_utc_datetime(&n)),
    }
}

/// `PT1H30M`, `P1D`, `P1W` (RFC 5545 3.3.6).
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let s = s.trim().strip_prefix('+').unwrap_or(s.trim());
    let s = s.strip_prefix('P')?;
    let mut total = chrono::Duration::zero();
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = if c == 'T' { 0 } else { num.parse().ok()? };
        total += match c {
            'W' => chrono::Duration::weeks(n),
            'D' => chrono::Duration::days(n),
            'H' => chrono::Duration::hours(n),
            'M' => chrono::Duration::minutes(n),
            'S' => chrono::Duration::seconds(n),
            'T' => chrono::Duration::zero(),
            _ => return None,
        };
        num.clear();
    }
    Some(total)
}

/// `20260601T090000Z`, the form CalDAV time-range filters take.
pub fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format(STAMP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking() -> Booking {
        Booking {
            id: "x".into(),
            service: "Cleaning".into(),
            start: Utc.with_ymd_and_hms(2030, 6, 3, 14, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2030, 6, 3, 15, 10, 0).unwrap(),
            name: "Ada, \"the\" Lovelace; jr".into(),
            phone: "+15550001111".into(),
            purpose: "sore gum\nsince Monday, and a very long explanation that needs folding across lines".into(),
        }
    }

    #[test]
    fn a_booking_survives_writing_and_reading() {
        let text = event("uid-1", &booking(), Utc::now());
        assert!(text.lines().all(|l| l.len() <= 76), "{text}");
        let evs = vevents(&text);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].uid().as_deref(), Some("uid-1"));
        let mut want = booking();
        want.id = "r.ics".into();
        assert_eq!(evs[0].booking("r.ics"), Some(want));
    }

    #[test]
    fn foreign_events_hold_their_time() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=America/New_York:20300603T090000\r\nDURATION:PT1H30M\r\n\
BEGIN:VALARM\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART;VALUE=DATE:20300604\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20300605T090000Z\r\nDTEND:20300605T100000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let evs = vevents(text);
        assert_eq!(evs.len(), 3);
        let a = evs[0].held().unwrap();
        assert_eq!(a.start, Utc.with_ymd_and_hms(2030, 6, 3, 13, 0, 0).unwrap());
        assert_eq!(a.end, Utc.with_ymd_and_hms(2030, 6, 3, 14, 30, 0).unwrap());
        assert_eq!(evs[0].booking("a"), None, "not ours");
        let b = evs[1].held().unwrap();
        assert_eq!(b.end - b.start, chrono::Duration::days(1));
        assert_eq!(evs[2].held(), None, "transparent events are free");
    }
}
