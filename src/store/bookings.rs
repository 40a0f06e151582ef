//! The queries the booking tools need beyond plain booking: a caller's
//! upcoming appointments, cancelling only what is still booked, and moving an
//! appointment in one transaction so it never loses its old slot without
//! getting the new one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{to_db, Appointment, AppointmentStatus};
use super::rows::AppointmentRow;
use super::schema::appointments;
use super::Store;

impl Store {
    /// The booked appointments of one business under `phone` that have not
    /// ended by `from`, earliest first.
    pub async fn booked_appointments_for_phone(
        &self,
        business_number: &str,
        phone: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<Appointment>, StoreError> {
        let from = to_db(from);
        db_run!(self, |conn| {
            let rows: Vec<AppointmentRow> = appointments::table
                .filter(appointments::business_number.eq(business_number))
                .filter(appointments::phone.eq(phone))
                .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
                .filter(appointments::ends_at.gt(from))
                .order((appointments::starts_at.asc(), appointments::id.asc()))
                .select(AppointmentRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(Appointment::try_from).collect()
        })
    }

    /// Cancels a booked appointment of this business and returns it as it
    /// was. [`StoreError::NotFound`] when there is no such appointment or it
    /// is already cancelled, so a caller is never told twice that it was.
    pub async fn cancel_booked_appointment(
        &self,
        business_number: &str,
        id: i64,
    ) -> Result<Appointment, StoreError> {
        let row = db_write!(self, |conn| {
            let row: Option<AppointmentRow> = diesel::update(
                appointments::table
                    .find(id)
                    .filter(appointments::business_number.eq(business_number))
                    .filter(appointments::status.eq(AppointmentStatus::Booked.as_str())),
            )
            .set(appointments::status.eq(AppointmentStatus::Cancelled.as_str()))
            .returning(AppointmentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            Ok(row)
        })?;
        let mut appt = Appointment::try_from(row.ok_or(StoreError::NotFound)?)?;
        // The row as it was before the update, for the confirmation.
        appt.status = AppointmentStatus::Booked;
        Ok(appt)
    }

    /// Moves a booked appointment to `[starts_at, ends_at)`: the old one is
    /// cancelled and a new one (same name, phone, purpose) booked in one
    /// transaction. On [`StoreError::Conflict`] nothing changes and the old
    /// booking stands. The new range may overlap the old one (moving by a
    /// quarter of an hour). Returns the new appointment.
    pub async fn reschedule_appointment(
        &self,
        business_number: &str,
        id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Appointment, StoreError> {
        let mut attempt = 0;
        loop {
            match self
                .reschedule_appointment_once(business_number, id, starts_at, ends_at)
                .await
            {
                Err(e) if e.is_lost_race() && attempt < super::error::RACE_RETRIES => attempt += 1,
                result => return result,
            }
        }
    }

    async fn reschedule_appointment_once(
        &self,
        business_number: &str,
        id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Appointment, StoreError> {
        if ends_at <= starts_at {
            return Err(StoreError::Conflict(format!(
                "appointment must end after it starts (starts {}, ends {})",
                starts_at.to_rfc3339(),
                ends_at.to_rfc3339()
            )));
        }
        let (starts, ends) = (to_db(starts_at), to_db(ends_at));
        let created_at = to_db(Utc::now());
        let row = db_write!(self, |conn| {
            // The update both claims the row (a concurrent cancel or move
            // makes it match nothing) and frees its slot for the new range.
            let old: Option<AppointmentRow> = diesel::update(
                appointments::table
                    .find(id)
                    .filter(appointments::business_number.eq(business_number))
                    .filter(appointments::status.eq(AppointmentStatus::Booked.as_str())),
            )
            .set(appointments::status.eq(AppointmentStatus::Cancelled.as_str()))
            .returning(AppointmentRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            let Some(old) = old else {
                return Err(StoreError::NotFound);
            };
            let new: AppointmentRow = diesel::insert_into(appointments::table)
                .values((
                    appointments::business_number.eq(&old.business_number),
                    appointments::starts_at.eq(starts),
                    appointments::ends_at.eq(ends),
                    appointments::name.eq(&old.name),
                    appointments::phone.eq(&old.phone),
                    appointments::purpose.eq(&old.purpose),
                    appointments::status.eq(AppointmentStatus::Booked.as_str()),
                    appointments::created_at.eq(created_at),
                ))
                .returning(AppointmentRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(new)
        })?;
        Appointment::try_from(row)
    }
}
