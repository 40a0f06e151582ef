//! Persistent storage: PostgreSQL (production, pooled `AsyncPgConnection`) or
//! SQLite (embedded default, `SyncConnectionWrapper<SqliteConnection>`), one
//! schema, chosen at run time by DATABASE_URL. Migrations for the chosen
//! backend are embedded and applied by [`Store::connect`].
//!
//! diesel-async has no connection type spanning both backends, so the store
//! holds an enum of pools and each query body is written once inside
//! [`db_run!`] / [`db_write!`] / [`db_read!`], which expand it for both connection types.

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend
/// the store uses. The body is expanded once per backend, so it must compile
/// for both; `?` and `return` act on the enclosing function.
macro_rules! db_run {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::pool::Pool::Pg(pool) => {
                let mut pooled = $crate::store::pool::checkout_pg(pool).await?;
                let $conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                $body
            }
            $crate::store::pool::Pool::Sqlite(pool) => {
                let mut pooled = $crate::store::pool::checkout_sqlite(pool).await?;
                let $conn: &mut $crate::store::pool::SqliteConn = &mut pooled;
                $body
            }
        }
    };
}

/// Like [`db_run!`], but the body runs in one write transaction and must
/// evaluate to `Result<T, StoreError>`; an `Err` rolls everything back. On
/// SQLite the transaction is `BEGIN IMMEDIATE`: it takes the write lock up
/// front (waiting up to busy_timeout) instead of failing when a read lock
/// cannot be upgraded, which is also what makes check-then-write triggers
/// race-free there.
macro_rules! db_write {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::pool::Pool::Pg(pool) => {
                let mut pooled = $crate::store::pool::checkout_pg(pool).await?;
                let conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                ::diesel_async::AsyncConnection::transaction(
                    conn,
                    async |$conn: &mut ::diesel_async::AsyncPgConnection| -> Result<_, $crate::store::StoreError> {
                        $body
                    },
                )
                .await
            }
            $crate::store::pool::Pool::Sqlite(pool) => {
                let mut pooled = $crate::store::pool::checkout_sqlite(pool).await?;
                let conn: &mut $crate::store::pool::SqliteConn = &mut pooled;
                conn.immediate_transaction(
                    async |$conn: &mut $crate::store::pool::SqliteConn| -> Result<_, $crate::store::StoreError> {
                        $body
                    },
                )
                .await
            }
        }
    };
}

/// Like [`db_write!`] for several reads that must agree with each other: a
/// read-only REPEATABLE READ transaction on PostgreSQL (one snapshot for all
/// statements), a deferred transaction on SQLite (WAL gives it one snapshot
/// from its first read, without taking the write lock).
macro_rules! db_read {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::pool::Pool::Pg(pool) => {
                let mut pooled = $crate::store::pool::checkout_pg(pool).await?;
                let conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |$conn: &mut ::diesel_async::AsyncPgConnection| -> Result<_, $crate::store::StoreError> {
                        $body
                    })
                    .await
            }
            $crate::store::pool::Pool::Sqlite(pool) => {
                let mut pooled = $crate::store::pool::checkout_sqlite(pool).await?;
                let conn: &mut $crate::store::pool::SqliteConn = &mut pooled;
                ::diesel_async::AsyncConnection::transaction(
                    conn,
                    async |$conn: &mut $crate::store::pool::SqliteConn| -> Result<_, $crate::store::StoreError> {
                        $body
                    },
                )
                .await
            }
        }
    };
}

mod appointments;
mod bookings;
mod caller_data;
mod calls;
mod connect;
mod contacts;
mod error;
mod flight;
mod inbox;
mod migrate;
mod model;
mod notification;
mod outbox;
mod pool;
mod record;
mod retention;
mod rows;
pub mod schema;
mod url;

pub use caller_data::{BusinessRecords, CallerCounts, CallerExport, PrivacyRequest};
pub use connect::{INITIAL_RETRY_DELAY, MAX_RETRY_DELAY};
pub use contacts::KnownCaller;
pub use error::StoreError;
pub use model::{
    Appointment, AppointmentStatus, CallDetail, CallSummary, Message, NewAppointment, NewMessage,
    NewVoicemail, PurgeReport, RecordRow, ResponseUsage, RowCounts, TimelineEvent, ToolInvocation,
    TranscriptTurn, Usage, Voicemail, TRANSCRIPT_DONE, TRANSCRIPT_PENDING,
};
pub use notification::{Notification, OutboxAttempt, OutboxItem};
pub use retention::{ExpiredRecording, RetentionCutoffs, RetentionReport};
pub use url::{Backend, DEFAULT_DATABASE_URL};

/// A handle on the database. Cloning is cheap: clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: pool::Pool,
    backend: Backend,
    /// The database named without secrets, for logs and errors.
    target: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("target", &self.target)
            .finish()
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database this store uses, with any password redacted.
    pub fn describe(&self) -> &str {
        &self.target
    }

    /// Succeeds when a pooled connection can run a statement.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::SimpleAsyncConnection;
        db_run!(self, |conn| conn
            .batch_execute("SELECT 1")
            .await
            .map_err(StoreError::from))
    }
}
