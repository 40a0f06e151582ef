//! Each calendar adapter against its provider: CalDAV against a real
//! Radicale server, Google Calendar and Microsoft Graph against their
//! simulators. The same contract for all (see `calendar_support`), then
//! each provider's failure modes.

use std::time::Duration;

use crate::calendar_support::*;
use frontdesk::calendar::{CalDavCalendar, Calendar, CalendarError};
use frontdesk::config::calendar::CalDavConfig;

const FOREIGN_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Someone//Phone//EN\r\n\
BEGIN:VEVENT\r\nUID:dentist-meeting\r\nDTSTAMP:20300101T000000Z\r\n\
DTSTART;TZID=Europe/London:20300603T100000\r\nDURATION:PT1H\r\nSUMMARY:Staff meeting\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";

fn caldav(url: &str, password: &str) -> CalDavCalendar {
    CalDavCalendar::new(
        &CalDavConfig {
            url: url.into(),
            username: CALDAV_USER.into(),
            password: Some(password.into()),
        },
        Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test]
async fn caldav_keeps_the_contract_against_radicale() {
    let server = Radicale::start();
    let url = server.calendar("appointments").await;
    // 10:00 in London on 3 June (BST) is 09:00 UTC.
    server.put_foreign(&url, "meeting.ics", FOREIGN_ICS).await;
    check_contract(&caldav(&url, CALDAV_PASSWORD)).await;
}

#[tokio::test]
async fn caldav_failures_are_typed_and_carry_no_password() {
    let server = Radicale::start();
    let url = server.calendar("appointments").await;
    let wrong = caldav(&url, "not-the-password");
    let e = wrong.busy(at(0, 0), at(23, 0)).await.unwrap_err();
    assert!(
        matches!(&e, CalendarError::Unavailable(m) if m.contains("credentials") && !m.contains("not-the-password")),
        "{e}"
    );
    let e = wrong.book(request(at(9, 0), 30, "+15550001111")).await.unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(_)), "{e}");

    // Nothing listens: unavailable, quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = caldav(&format!("http://127.0.0.1:{port}/desk/cal/"), CALDAV_PASSWORD);
    let e = down.busy(at(0, 0), at(23, 0)).await.unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(m) if m.contains("cannot be reached")), "{e}");

    // A server that accepts the connection and never answers: the timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let slow = CalDavCalendar::new(
        &CalDavConfig {
            url: format!("http://{addr}/desk/cal/"),
            username: CALDAV_USER.into(),
            password: Some(CALDAV_PASSWORD.into()),
        },
        Duration::from_millis(300),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let e = slow.book(request(at(9, 0), 30, "+15550001111")).await.unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(m) if m.contains("in time")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    hold.abort();

    // A collection that is not there rejects the event.
    let missing = caldav(&format!("http://127.0.0.1:{}/desk/nope/", server.port), CALDAV_PASSWORD);
    let e = missing.book(request(at(9, 0), 30, "+15550001111")).await.unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(_)), "{e}");
}
