//! Appointment bookings. The database, not this code, guarantees that no two
//! booked appointments of one business overlap: a PostgreSQL exclusion
//! constraint, SQLite triggers inside a `BEGIN IMMEDIATE` transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{to_db, Appointment, AppointmentStatus, NewAppointment};
use super::rows::AppointmentRow;
use super::schema::appointments;
use super::Store;

impl Store {
    /// Books `appt` and returns its id. [`StoreError::Conflict`] when it
    /// overlaps a booked appointment of the same business (touching is fine:
    /// ranges are half-open) or does not end after it starts.
    pub async fn book_appointment(&self, appt: NewAppointment) -> Result<i64, StoreError> {
        let mut attempt = 0;
        loop {
            match self.book_appointment_once(appt.clone()).await {
                Err(e) if e.is_lost_race() && attempt < super::error::RACE_RETRIES => attempt += 1,
                result => return result,
            }
        }
    }

    async fn book_appointment_once(&self, appt: NewAppointment) -> Result<i64, StoreError> {
        let starts_at = to_db(appt.starts_at);
        let ends_at = to_db(appt.ends_at);
        if ends_at <= starts_at {
            return Err(StoreError::Conflict(format!(
                "appointment must end after it starts (starts {}, ends {})",
                appt.starts_at.to_rfc3339(),
                appt.ends_at.to_rfc3339()
            )));
        }
        let created_at = to_db(Utc::now());
        db_write!(self, |conn| {
            let id = diesel::insert_into(appointments::table)
                .values((
                    appointments::business_number.eq(&appt.business_number),
                    appointments::starts_at.eq(starts_at),
                    appointments::ends_at.eq(ends_at),
                    appointments::name.eq(&appt.name),
                    appointments::phone.eq(&appt.phone),
                    appointments::purpose.eq(&appt.purpose),
                    appointments::status.eq(AppointmentStatus::Booked.as_str()),
                    appointments::created_at.eq(created_at),
                ))
                .returning(appointments::id)
                .get_result::<i64>(conn)
                .await?;
            Ok(id)
        })
    }

    /// Cancels an appointment, freeing its slot. Cancelling twice is fine;
    /// [`StoreError::NotFound`] when there is no such appointment.
    pub async fn cancel_appointment(&self, id: i64) -> Result<(), StoreError> {
        let changed = db_write!(self, |conn| {
            let n = diesel::update(appointments::table.find(id))
                .set(appointments::status.eq(AppointmentStatus::Cancelled.as_str()))
                .execute(conn)
                .await?;
            Ok(n)
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The booked (not cancelled) appointments of one business that overlap
    /// `[from, to)`, earliest first.
    pub async fn appointments_between(
        &self,
        business_number: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        let (from, to) = (to_db(from), to_db(to));
        db_run!(self, |conn| {
            let rows: Vec<AppointmentRow> = appointments::table
                .filter(appointments::business_number.eq(business_number))
                .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
                .filter(appointments::starts_at.lt(to))
                .filter(appointments::ends_at.gt(from))
                .order((appointments::starts_at.asc(), appointments::id.asc()))
                .select(AppointmentRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(Appointment::try_from).collect()
        })
    }
}
