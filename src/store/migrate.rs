//! The embedded migrations, applied at start-up for the chosen backend.

use std::collections::BTreeSet;

use diesel::backend::Backend;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::error::StoreError;
use super::pool::{checkout_pg, checkout_sqlite, Pool};

pub(crate) const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serialises start-up migrations of engine instances sharing one PostgreSQL
/// database: without it two instances starting together both try to create
/// the tables. Any fixed number works as long as every instance uses it.
const PG_MIGRATION_LOCK: i64 = 0x6672_6f6e_7464_6b01;

/// Applies every pending migration and returns how many ran.
pub(crate) async fn run(pool: &Pool) -> Result<usize, StoreError> {
    // diesel_migrations is synchronous: it drives the async connection through
    // AsyncConnectionWrapper, which blocks, so it runs on a blocking thread.
    let outcome = match pool {
        Pool::Pg(pool) => {
            let conn = checkout_pg(pool).await?;
            tokio::task::spawn_blocking(move || {
                let mut conn = AsyncConnectionWrapper::<_>::from(conn);
                with_pg_lock(&mut conn, |conn| {
                    apply(conn, POSTGRES_MIGRATIONS, "PostgreSQL")
                })
            })
            .await
        }
        Pool::Sqlite(pool) => {
            let conn = checkout_sqlite(pool).await?;
            tokio::task::spawn_blocking(move || {
                let mut conn = AsyncConnectionWrapper::<_>::from(conn);
                apply(&mut conn, SQLITE_MIGRATIONS, "SQLite")
            })
            .await
        }
    };
    outcome.map_err(|e| StoreError::Migration(format!("migration task did not finish: {e}")))?
}

fn with_pg_lock<C: SimpleConnection>(
    conn: &mut C,
    body: impl FnOnce(&mut C) -> Result<usize, StoreError>,
) -> Result<usize, StoreError> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))
        .map_err(StoreError::from)?;
    let result = body(conn);
    // The lock is per session and the connection goes back to the pool, so it
    // must be released even when the migration failed.
    let unlocked = conn
        .batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))
        .map_err(StoreError::from);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

fn apply<C, DB>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    backend: &str,
) -> Result<usize, StoreError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Migration(format!("{backend}: {what}: {e}"))
    };
    let known: BTreeSet<String> = MigrationSource::<DB>::migrations(&migrations)
        .map_err(|e| fail("reading the embedded migrations", &e))?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied = conn.applied_migrations().map_err(|e| {
        fail(
            "reading the migration history (__diesel_schema_migrations)",
            &e,
        )
    })?;
    let unknown: Vec<String> = applied
        .iter()
        .map(|v| v.to_string())
        .filter(|v| !known.contains(v))
        .collect();
    if !unknown.is_empty() {
        return Err(StoreError::Migration(format!(
            "{backend}: the database has migration(s) {} applied that this binary does not know; \
             it was migrated by a newer or different build — run that build or point DATABASE_URL elsewhere",
            unknown.join(", ")
        )));
    }
    let ran = conn.run_pending_migrations(migrations).map_err(|e| {
        fail(
            "applying migrations (does the database already hold tables that were not created by \
             Frontdesk's migrations?)",
            &e,
        )
    })?;
    Ok(ran.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<DB: Backend>(source: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        MigrationSource::<DB>::migrations(source)
            .unwrap()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    #[test]
    fn both_backends_embed_the_same_migration_names() {
        let pg = names::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS);
        let sqlite = names::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS);
        assert!(!pg.is_empty());
        assert_eq!(pg, sqlite);
    }
}
