//! One pool per backend; the store holds whichever DATABASE_URL chose.

use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool as Deadpool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

use super::error::StoreError;
use super::url::DatabaseTarget;

pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
pub(crate) type PgPool = Deadpool<AsyncPgConnection>;
pub(crate) type SqlitePool = Deadpool<SqliteConn>;

/// How long one attempt to open a connection may take before we call the
/// database unreachable (a black-holed host would otherwise hang for minutes).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const PG_POOL_SIZE: usize = 16;
/// WAL lets readers run beside the one writer; more connections than this
/// would only queue on SQLite's write lock.
const SQLITE_POOL_SIZE: usize = 4;
/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

#[derive(Clone)]
pub(crate) enum Pool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

pub(crate) fn build(target: &DatabaseTarget) -> Result<Pool, StoreError> {
    match target {
        DatabaseTarget::Postgres { url, .. } => {
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.clone());
            let pool = Deadpool::builder(manager)
                .max_size(PG_POOL_SIZE)
                .build()
                .map_err(|e| StoreError::BadUrl(format!("cannot build PostgreSQL pool: {e}")))?;
            Ok(Pool::Pg(pool))
        }
        DatabaseTarget::SqliteFile(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unreachable(format!(
                        "cannot create directory {} for the SQLite database: {e}",
                        parent.display()
                    ))
                })?;
            }
            let file = path.to_str().ok_or_else(|| {
                StoreError::BadUrl(format!("SQLite path {} is not valid UTF-8", path.display()))
            })?;
            sqlite_pool(file, SQLITE_POOL_SIZE)
        }
        // Every connection to ":memory:" is its own database: one connection only.
        DatabaseTarget::SqliteMemory => sqlite_pool(":memory:", 1),
    }
}

fn sqlite_pool(file: &str, size: usize) -> Result<Pool, StoreError> {
    let mut config = ManagerConfig::<SqliteConn>::default();
    config.custom_setup = Box::new(|url| {
        let url = url.to_owned();
        async move {
            let mut conn = SqliteConn::establish(&url).await?;
            // Pragmas are per connection, so every pooled connection gets them.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(file, config);
    let pool = Deadpool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| StoreError::BadUrl(format!("cannot build SQLite pool: {e}")))?;
    Ok(Pool::Sqlite(pool))
}

/// A PostgreSQL connection from the pool, or why there is none.
pub(crate) async fn checkout_pg(pool: &PgPool) -> Result<Object<AsyncPgConnection>, StoreError> {
    within_connect_timeout(pool.get()).await
}

/// A SQLite connection from the pool, or why there is none.
pub(crate) async fn checkout_sqlite(pool: &SqlitePool) -> Result<Object<SqliteConn>, StoreError> {
    within_connect_timeout(pool.get()).await
}

async fn within_connect_timeout<T, E: std::fmt::Display>(
    get: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, get).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(StoreError::Unreachable(e.to_string())),
        Err(_) => Err(StoreError::Unreachable(format!(
            "no database connection within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}
