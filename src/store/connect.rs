//! Opening the store: parse the URL, reach the database, migrate it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::StoreError;
use super::url::DatabaseTarget;
use super::{migrate, pool, Store};

/// First pause between start-up attempts; it doubles up to [`MAX_RETRY_DELAY`].
pub const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(500);
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

impl Store {
    /// Opens the database named by `url` and applies any pending migrations.
    ///
    /// `postgres://` / `postgresql://` give a pool of `AsyncPgConnection`s;
    /// `sqlite://relative/path`, `sqlite:///absolute/path` (parent directories
    /// are created) and `sqlite::memory:` give SQLite in WAL mode with a busy
    /// timeout and foreign keys on.
    ///
    /// Errors: [`StoreError::BadUrl`] for a URL that cannot work,
    /// [`StoreError::Unreachable`] when the database cannot be reached now,
    /// [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let target = DatabaseTarget::parse(url)?;
        let description = target.describe();
        let store = Store {
            pool: pool::build(&target)?,
            backend: target.backend(),
            target: Arc::from(description.as_str()),
        };
        store.ping().await.map_err(|e| match e {
            StoreError::Unreachable(reason) => {
                StoreError::Unreachable(format!("{description}: {reason}"))
            }
            StoreError::BadUrl(reason) => StoreError::BadUrl(format!("{description}: {reason}")),
            other => StoreError::Unreachable(format!("{description}: {other}")),
        })?;
        let applied = migrate::run(&store.pool).await.map_err(|e| match e {
            StoreError::Migration(reason) => {
                StoreError::Migration(format!("{description}: {reason}"))
            }
            StoreError::Unreachable(reason) => {
                StoreError::Unreachable(format!("{description}: {reason}"))
            }
            other => StoreError::Migration(format!("{description}: {other}")),
        })?;
        tracing::info!(database = %description, backend = ?store.backend, migrations_applied = applied, "store ready");
        Ok(store)
    }

    /// [`Store::connect`], retried while the database is unreachable, so a
    /// service started before its database waits for it instead of crash
    /// looping. Each failed attempt is logged with its reason; the pause
    /// doubles from [`INITIAL_RETRY_DELAY`] up to [`MAX_RETRY_DELAY`]. A bad URL
    /// or a migration failure is returned at once: waiting cannot fix it.
    /// With `max_wait`, gives up with the last error once that much time has passed.
    pub async fn connect_with_retry(
        url: &str,
        max_wait: Option<Duration>,
    ) -> Result<Store, StoreError> {
        let started = Instant::now();
        let mut delay = INITIAL_RETRY_DELAY;
        let mut attempt: u32 = 1;
        loop {
            let err = match Store::connect(url).await {
                Ok(store) => {
                    if attempt > 1 {
                        tracing::info!(attempt, "database reachable after retrying");
                    }
                    return Ok(store);
                }
                Err(err) if !err.is_transient() => return Err(err),
                Err(err) => err,
            };
            let waited = started.elapsed();
            let pause = match max_wait {
                Some(max) if waited >= max => {
                    tracing::error!(attempt, waited_ms = waited.as_millis() as u64, error = %err, "giving up on the database");
                    return Err(match err {
                        StoreError::Unreachable(reason) => StoreError::Unreachable(format!(
                            "{reason} (gave up after {attempt} attempts over {:.1} s)",
                            waited.as_secs_f64()
                        )),
                        other => other,
                    });
                }
                Some(max) => delay.min(max - waited),
                None => delay,
            };
            tracing::warn!(
                attempt,
                retry_in_ms = pause.as_millis() as u64,
                error = %err,
                "database not reachable at start-up; retrying"
            );
            tokio::time::sleep(pause).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            attempt = attempt.saturating_add(1);
        }
    }
}
