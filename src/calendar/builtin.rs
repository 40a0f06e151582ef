//! The default calendar: the `appointments` table. The database refuses
//! overlapping holds (PostgreSQL exclusion constraint, SQLite triggers under
//! `BEGIN IMMEDIATE`), so a race between two bookings books one of them.

use chrono::{DateTime, Utc};

use super::{Booking, BookingRequest, Calendar, CalendarError, CalendarFuture, Interval};
use crate::store::{Appointment, NewAppointment, Store, StoreError};

/// The table has no service column: the service leads the purpose text,
/// `"Cleaning: sensitive tooth"` (or just `"Cleaning"`).
const SERVICE_SEPARATOR: &str = ": ";

#[derive(Clone, Debug)]
pub struct BuiltinCalendar {
    store: Store,
    business_number: String,
}

impl BuiltinCalendar {
    /// The calendar of the business answering on `business_number`.
    pub fn new(store: Store, business_number: impl Into<String>) -> Self {
        BuiltinCalendar {
            store,
            business_number: business_number.into(),
        }
    }
}

fn encode_purpose(service: &str, purpose: &str) -> String {
    let purpose = purpose.trim();
    if purpose.is_empty() {
        service.to_string()
    } else {
        format!("{service}{SERVICE_SEPARATOR}{purpose}")
    }
}

fn to_booking(a: Appointment) -> Booking {
    let (service, purpose) = match a.purpose.split_once(SERVICE_SEPARATOR) {
        Some((s, p)) => (s.to_string(), p.to_string()),
        None => (a.purpose.clone(), String::new()),
    };
    Booking {
        id: a.id.to_string(),
        service,
        start: a.starts_at,
        end: a.ends_at,
        name: a.name,
        phone: a.phone,
        purpose,
    }
}

fn parse_id(id: &str) -> Result<i64, CalendarError> {
    id.trim().parse().map_err(|_| CalendarError::NotFound)
}

fn from_store(e: StoreError) -> CalendarError {
    match e {
        StoreError::Conflict(m) => CalendarError::Conflict(m),
        StoreError::NotFound => CalendarError::NotFound,
        other => CalendarError::Unavailable(other.to_string()),
    }
}

fn check_range(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), CalendarError> {
    if end <= start {
        return Err(CalendarError::Invalid(format!(
            "a booking must end after it starts ({start} .. {end})"
        )));
    }
    Ok(())
}

impl Calendar for BuiltinCalendar {
    fn kind(&self) -> &'static str {
        "builtin"
    }

    fn busy(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarFuture<'_, Vec<Interval>> {
        Box::pin(async move {
            let rows = self
                .store
                .appointments_between(&self.business_number, from, to)
                .await
                .map_err(from_store)?;
            Ok(rows
                .into_iter()
                .map(|a| Interval::new(a.starts_at, a.ends_at))
                .collect())
        })
    }

    fn book(&self, request: BookingRequest) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            check_range(request.start, request.end)?;
            let purpose = encode_purpose(&request.service, &request.purpose);
            let id = self
                .store
                .book_appointment(NewAppointment {
                    business_number: self.business_number.clone(),
                    starts_at: request.start,
                    ends_at: request.end,
                    name: request.name.clone(),
                    phone: request.phone.clone(),
                    purpose,
                })
                .await
                .map_err(from_store)?;
            Ok(Booking {
                id: id.to_string(),
                service: request.service,
                start: request.start,
                end: request.end,
                name: request.name,
                phone: request.phone,
                purpose: request.purpose.trim().to_string(),
            })
        })
    }

    fn cancel(&self, id: String) -> CalendarFuture<'_, Booking> {
        Box::pin(async move {
            let id = parse_id(&id)?;
            let a = self
                .store
                .cancel_booked_appointment(&self.business_number, id)
                .await
                .map_err(from_store)?;
            Ok(to_booking(a))
        })
    }

    fn find_by_phone(
        &self,
        phone: String,
        from: DateTime<Utc>,
    ) -> CalendarFuture<'_, Vec<Booking>> {
        Box::pin(async move {
            let rows = self
                .store
                .booked_appointments_for_phone(&self.business_number, &phone, from)
                .await
                .map_err(from_store)?;
            Ok(rows.into_iter().map(to_booking).collect())
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
            let id = parse_id(&id)?;
            let a = self
                .store
                .reschedule_appointment(&self.business_number, id, start, end)
                .await
                .map_err(from_store)?;
            Ok(to_booking(a))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 6, 3, h, m, 0).unwrap()
    }

    fn request(h: u32, minutes: i64) -> BookingRequest {
        BookingRequest {
            service: "Cleaning".into(),
            start: at(h, 0),
            end: at(h, 0) + Duration::minutes(minutes),
            name: "Ada".into(),
            phone: "+15550001111".into(),
            purpose: "sore gum".into(),
        }
    }

    async fn calendar() -> BuiltinCalendar {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        BuiltinCalendar::new(store, "+15551230000")
    }

    #[test]
    fn service_and_purpose_share_the_purpose_column() {
        assert_eq!(encode_purpose("Cleaning", "  "), "Cleaning");
        assert_eq!(encode_purpose("Cleaning", "sore gum"), "Cleaning: sore gum");
    }

    #[tokio::test]
    async fn book_find_move_cancel() {
        let cal = calendar().await;
        let b = cal.book(request(14, 70)).await.unwrap();
        assert_eq!(b.service, "Cleaning");
        assert!(matches!(
            cal.book(request(14, 30)).await,
            Err(CalendarError::Conflict(_))
        ));
        let found = cal
            .find_by_phone("+15550001111".into(), at(0, 0))
            .await
            .unwrap();
        assert_eq!(found, vec![b.clone()]);
        assert!(cal
            .find_by_phone("+15559999999".into(), at(0, 0))
            .await
            .unwrap()
            .is_empty());
        let moved = cal
            .reschedule(b.id.clone(), at(14, 30), at(15, 40))
            .await
            .unwrap();
        assert_ne!(moved.id, b.id);
        assert_eq!(
            (moved.service.as_str(), moved.purpose.as_str()),
            ("Cleaning", "sore gum")
        );
        assert_eq!(
            cal.busy(at(0, 0), at(23, 0)).await.unwrap(),
            vec![Interval::new(at(14, 30), at(15, 40))]
        );
        assert_eq!(cal.cancel(b.id).await, Err(CalendarError::NotFound));
        assert_eq!(cal.cancel(moved.id.clone()).await.unwrap().id, moved.id);
        assert_eq!(cal.cancel(moved.id).await, Err(CalendarError::NotFound));
        assert_eq!(cal.cancel("x".into()).await, Err(CalendarError::NotFound));
        assert!(cal.busy(at(0, 0), at(23, 0)).await.unwrap().is_empty());
        assert!(matches!(
            cal.book(request(9, 0)).await,
            Err(CalendarError::Invalid(_))
        ));
    }
}
