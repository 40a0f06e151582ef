//! What can go wrong with the store, in words an operator can act on.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Every store failure. The messages name the problem; none carries a
/// password (URLs are redacted before they get here).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// DATABASE_URL cannot be used at all; retrying will not help.
    #[error("bad DATABASE_URL: {0}")]
    BadUrl(String),
    /// The database could not be reached or dropped the connection; retrying may help.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The embedded migrations could not be applied; needs an operator.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A constraint refused the write (overlapping appointment, event sequence gap, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other database error.
    #[error("database query failed: {0}")]
    Query(String),
    /// The row the operation names does not exist.
    #[error("not found")]
    NotFound,
}

impl StoreError {
    /// Whether trying the same thing again later can succeed without anyone
    /// changing the configuration or the database.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unreachable(_))
    }

    /// PostgreSQL aborted one of two racing transactions (deadlock or
    /// serialization failure): running it again settles the race, typically
    /// as a `Conflict`. Two concurrent writers checked by one exclusion
    /// constraint can wait on each other, which PostgreSQL resolves this way.
    pub fn is_lost_race(&self) -> bool {
        matches!(self, StoreError::Query(m) if m.contains("deadlock detected") || m.contains("could not serialize"))
    }
}

/// How often a write that lost a race is run again.
pub(crate) const RACE_RETRIES: usize = 4;

/// Raised by the SQLite overlap triggers; PostgreSQL reports the exclusion
/// constraint by name instead.
const OVERLAP_MESSAGE: &str = "appointment overlaps an existing booking";
const OVERLAP_CONSTRAINT: &str = "appointments_no_overlap";
/// Raised by both sequence guards.
const SEQ_GAP_MARKER: &str = "call_events seq gap";

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let message = info.message();
                let constraint = info.constraint_name().unwrap_or_default();
                if constraint == OVERLAP_CONSTRAINT || message.contains(OVERLAP_MESSAGE) {
                    return StoreError::Conflict(OVERLAP_MESSAGE.to_owned());
                }
                if message.contains(SEQ_GAP_MARKER) {
                    return StoreError::Conflict(message.to_owned());
                }
                let described = match info.details() {
                    Some(details) => format!("{message} ({details})"),
                    None => message.to_owned(),
                };
                match kind {
                    DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::NotNullViolation
                    | DatabaseErrorKind::CheckViolation
                    | DatabaseErrorKind::ExclusionViolation
                    | DatabaseErrorKind::RestrictViolation => StoreError::Conflict(described),
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => StoreError::Unreachable(described),
                    _ => StoreError::Query(described),
                }
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unreachable("connection left in a broken transaction state".to_owned())
            }
            other => StoreError::Query(other.to_string()),
        }
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(err: diesel::ConnectionError) -> Self {
        match err {
            diesel::ConnectionError::InvalidConnectionUrl(msg) => StoreError::BadUrl(msg),
            other => StoreError::Unreachable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_overlap_trigger_message_is_a_conflict() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("appointment overlaps an existing booking".to_owned()),
        );
        assert_eq!(
            StoreError::from(err),
            StoreError::Conflict(OVERLAP_MESSAGE.to_owned())
        );
    }

    #[test]
    fn unique_violation_is_a_conflict_and_not_transient() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("UNIQUE constraint failed: calls.call_sid".to_owned()),
        );
        let mapped = StoreError::from(err);
        assert!(matches!(&mapped, StoreError::Conflict(m) if m.contains("calls.call_sid")));
        assert!(!mapped.is_transient());
    }

    #[test]
    fn a_deadlock_is_a_lost_race_to_run_again() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("deadlock detected".to_owned()),
        );
        assert!(StoreError::from(err).is_lost_race());
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::SerializationFailure,
            Box::new("could not serialize access due to concurrent update".to_owned()),
        );
        assert!(StoreError::from(err).is_lost_race());
        assert!(!StoreError::Conflict("x".into()).is_lost_race());
    }

    #[test]
    fn closed_connection_is_transient() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection".to_owned()),
        );
        assert!(StoreError::from(err).is_transient());
    }

    #[test]
    fn not_found_maps_to_not_found() {
        assert_eq!(
            StoreError::from(DieselError::NotFound),
            StoreError::NotFound
        );
    }
}
