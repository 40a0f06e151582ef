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
async fn caldav_recurring_events_hold_each_of_their_instances() {
    let server = Radicale::start();
    let url = server.calendar("appointments").await;
    // Every Monday 16:00-17:00 UTC since May; 3 June 2030 is a Monday.
    let weekly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Someone//Phone//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly-huddle\r\nDTSTAMP:20300101T000000Z\r\n\
DTSTART:20300506T160000Z\r\nDTEND:20300506T170000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n\
SUMMARY:Huddle\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    server.put_foreign(&url, "huddle.ics", weekly).await;
    let cal = caldav(&url, CALDAV_PASSWORD);
    assert_eq!(
        cal.busy(at(0, 0), at(23, 59)).await.unwrap(),
        vec![frontdesk::calendar::Interval::new(at(16, 0), at(17, 0))]
    );
    let e = cal.book(request(at(16, 30), 30, "+15550001111")).await;
    assert!(matches!(e, Err(CalendarError::Conflict(_))), "{e:?}");
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
    let e = wrong
        .book(request(at(9, 0), 30, "+15550001111"))
        .await
        .unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(_)), "{e}");

    // Nothing listens: unavailable, quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = caldav(
        &format!("http://127.0.0.1:{port}/desk/cal/"),
        CALDAV_PASSWORD,
    );
    let e = down.busy(at(0, 0), at(23, 0)).await.unwrap_err();
    assert!(
        matches!(&e, CalendarError::Unavailable(m) if m.contains("cannot be reached")),
        "{e}"
    );

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
    let e = slow
        .book(request(at(9, 0), 30, "+15550001111"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CalendarError::Unavailable(m) if m.contains("in time")),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    hold.abort();

    // A collection that is not there rejects the event.
    let missing = caldav(
        &format!("http://127.0.0.1:{}/desk/nope/", server.port),
        CALDAV_PASSWORD,
    );
    let e = missing
        .book(request(at(9, 0), 30, "+15550001111"))
        .await
        .unwrap_err();
    assert!(matches!(&e, CalendarError::Unavailable(_)), "{e}");
}

mod google {
    use super::*;
    use frontdesk::calendar::GoogleCalendar;
    use frontdesk::config::calendar::GoogleConfig;
    use frontdesk_sim::google_calendar::{GoogleAuth, GoogleCalendarHandle, GoogleCalendarSim};
    use serde_json::json;

    const CAL: &str = "desk@harbor.example";

    fn auth() -> GoogleAuth {
        GoogleAuth {
            client_id: "client-1.apps.googleusercontent.com".into(),
            client_secret: "client-secret-1".into(),
            refresh_token: "1//refresh-token-1".into(),
            service_accounts: vec![(
                "booker@harbor.iam.gserviceaccount.com".into(),
                service_account_key().1,
            )],
        }
    }

    fn refresh_config(sim: &GoogleCalendarHandle) -> GoogleConfig {
        GoogleConfig {
            calendar_id: CAL.into(),
            base_url: sim.base_url(),
            token_url: sim.token_url(),
            client_id: "client-1.apps.googleusercontent.com".into(),
            client_secret: Some("client-secret-1".into()),
            refresh_token: Some("1//refresh-token-1".into()),
            ..GoogleConfig::default()
        }
    }

    fn staff_meeting(sim: &GoogleCalendarHandle) {
        sim.insert(
            CAL,
            json!({"summary": "Staff meeting",
                   "start": {"dateTime": "2030-06-03T05:00:00-04:00"},
                   "end": {"dateTime": "2030-06-03T06:00:00-04:00"}}),
        );
        // Free time and deleted events hold nothing.
        sim.insert(
            CAL,
            json!({"summary": "Lunch (free)", "transparency": "transparent",
                   "start": {"dateTime": "2030-06-03T12:00:00Z"}, "end": {"dateTime": "2030-06-03T13:00:00Z"}}),
        );
        sim.insert(
            CAL,
            json!({"summary": "Cancelled", "status": "cancelled",
                   "start": {"dateTime": "2030-06-03T11:00:00Z"}, "end": {"dateTime": "2030-06-03T12:00:00Z"}}),
        );
    }

    #[actix_rt::test]
    async fn keeps_the_contract_with_a_refresh_token() {
        let sim = GoogleCalendarSim::start(auth(), &[CAL]).await.unwrap();
        staff_meeting(&sim);
        let cal = GoogleCalendar::new(&refresh_config(&sim), Duration::from_secs(5)).unwrap();
        check_contract(&cal).await;
        let tokens = sim
            .requests()
            .iter()
            .filter(|r| *r == "POST /token")
            .count();
        assert_eq!(tokens, 1, "the token is cached: {:?}", sim.requests());
    }

    #[actix_rt::test]
    async fn signs_in_as_a_service_account_with_an_rs256_jwt() {
        let sim = GoogleCalendarSim::start(auth(), &[CAL]).await.unwrap();
        staff_meeting(&sim);
        let config = GoogleConfig {
            calendar_id: "primary".into(),
            base_url: sim.base_url(),
            token_url: sim.token_url(),
            client_email: "booker@harbor.iam.gserviceaccount.com".into(),
            private_key: Some(service_account_key().0.into()),
            ..GoogleConfig::default()
        };
        let cal = GoogleCalendar::new(&config, Duration::from_secs(5)).unwrap();
        let b = cal
            .book(request(at(14, 0), 60, "+15550001111"))
            .await
            .unwrap();
        let stored = sim.events(CAL);
        let ev = stored.iter().find(|e| e["id"] == b.id.as_str()).unwrap();
        assert_eq!(
            ev["extendedProperties"]["private"]["frontdeskPhone"],
            "+15550001111"
        );
        assert_eq!(ev["start"]["dateTime"], "2030-06-03T14:00:00Z");

        // Another account's key is refused by the token endpoint.
        let mut stranger = config.clone();
        stranger.client_email = "someone@else.iam.gserviceaccount.com".into();
        let cal = GoogleCalendar::new(&stranger, Duration::from_secs(5)).unwrap();
        let e = cal.busy(at(0, 0), at(23, 0)).await.unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("sign-in failed") && m.contains("invalid_grant")),
            "{e}"
        );
        assert!(!e.to_string().contains("PRIVATE KEY"));
    }

    #[actix_rt::test]
    async fn bad_credentials_outages_and_slowness_are_typed_errors() {
        let sim = GoogleCalendarSim::start(auth(), &[CAL]).await.unwrap();
        let mut wrong = refresh_config(&sim);
        wrong.refresh_token = Some("1//expired-refresh".into());
        let cal = GoogleCalendar::new(&wrong, Duration::from_secs(5)).unwrap();
        let e = cal
            .book(request(at(14, 0), 60, "+15550001111"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("invalid_grant")),
            "{e}"
        );
        assert!(!format!("{e} {e:?}").contains("expired-refresh"));
        assert!(sim.events(CAL).is_empty());

        let cal = GoogleCalendar::new(&refresh_config(&sim), Duration::from_millis(400)).unwrap();
        let sign_ins = || {
            sim.requests()
                .iter()
                .filter(|r| *r == "POST /token")
                .count()
        };
        cal.busy(at(0, 0), at(23, 0)).await.unwrap();
        let before = sign_ins();
        // A revoked token is replaced once, transparently.
        sim.revoke_tokens();
        cal.busy(at(0, 0), at(23, 0)).await.unwrap();
        assert_eq!(sign_ins(), before + 1);

        sim.set_down(true);
        let e = cal.busy(at(0, 0), at(23, 0)).await.unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("503")),
            "{e}"
        );
        sim.set_down(false);
        sim.set_delay(Duration::from_secs(2));
        let e = cal
            .book(request(at(14, 0), 60, "+15550001111"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("in time")),
            "{e}"
        );
    }
}

mod microsoft {
    use super::*;
    use frontdesk::calendar::MicrosoftCalendar;
    use frontdesk::config::calendar::MicrosoftConfig;
    use frontdesk_sim::microsoft_graph::{GraphAuth, GraphHandle, GraphSim};
    use serde_json::json;

    fn auth() -> GraphAuth {
        GraphAuth {
            tenant_id: "contoso-tenant".into(),
            client_id: "app-1".into(),
            client_secret: "graph-secret-1".into(),
            user: "desk@harbor.example".into(),
        }
    }

    fn config(sim: &GraphHandle) -> MicrosoftConfig {
        MicrosoftConfig {
            tenant_id: "contoso-tenant".into(),
            client_id: "app-1".into(),
            user: "desk@harbor.example".into(),
            base_url: sim.base_url(),
            token_url: sim.token_url(),
            client_secret: Some("graph-secret-1".into()),
        }
    }

    #[actix_rt::test]
    async fn keeps_the_contract_with_client_credentials() {
        let sim = GraphSim::start(auth()).await.unwrap();
        sim.insert(json!({"subject": "Staff meeting", "showAs": "busy",
            "start": {"dateTime": "2030-06-03T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-06-03T10:00:00", "timeZone": "UTC"}}));
        sim.insert(json!({"subject": "Focus time", "showAs": "free",
            "start": {"dateTime": "2030-06-03T11:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-06-03T12:00:00", "timeZone": "UTC"}}));
        let cal = MicrosoftCalendar::new(&config(&sim), Duration::from_secs(5)).unwrap();
        check_contract(&cal).await;
        let stored = sim.events();
        let ours = stored
            .iter()
            .find(|e| e["subject"] == "Cleaning: Ada Lovelace")
            .unwrap();
        assert!(ours["transactionId"].is_string());
        assert_eq!(
            ours["singleValueExtendedProperties"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }

    #[actix_rt::test]
    async fn bad_credentials_outages_and_slowness_are_typed_errors() {
        let sim = GraphSim::start(auth()).await.unwrap();
        let mut wrong = config(&sim);
        wrong.client_secret = Some("graph-secret-OLD".into());
        let cal = MicrosoftCalendar::new(&wrong, Duration::from_secs(5)).unwrap();
        let e = cal
            .book(request(at(14, 0), 60, "+15550001111"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("invalid_client")),
            "{e}"
        );
        assert!(!format!("{e} {e:?}").contains("graph-secret"));
        assert!(sim.events().is_empty());

        let mut stranger = config(&sim);
        stranger.user = "nobody@harbor.example".into();
        let cal = MicrosoftCalendar::new(&stranger, Duration::from_secs(5)).unwrap();
        let e = cal.busy(at(0, 0), at(23, 0)).await.unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("invalid")),
            "{e}"
        );

        let cal = MicrosoftCalendar::new(&config(&sim), Duration::from_millis(400)).unwrap();
        cal.busy(at(0, 0), at(23, 0)).await.unwrap();
        sim.revoke_tokens();
        cal.busy(at(0, 0), at(23, 0)).await.unwrap();
        sim.set_down(true);
        let e = cal.busy(at(0, 0), at(23, 0)).await.unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("503")),
            "{e}"
        );
        sim.set_down(false);
        sim.set_delay(Duration::from_secs(2));
        let e = cal
            .book(request(at(14, 0), 60, "+15550001111"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CalendarError::Unavailable(m) if m.contains("in time")),
            "{e}"
        );
    }
}
