//! Fresh databases for the store tests: a new PostgreSQL database per test
//! (copied from a migrated template) and a new SQLite file per test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use frontdesk::store::{Backend, Store};
use sha2::{Digest, Sha256};

const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Advisory locks are per database, so every test process locks in this one.
const PG_ADMIN_DB: &str = "test";
/// Serialises template creation and copying across concurrently running test binaries.
const TEMPLATE_LOCK: i64 = 0x6664_7374_6f72_6501;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn pg_url(db: &str) -> String {
    format!("{PG_SERVER}/{db}")
}

/// One throwaway database. Dropping it drops the PostgreSQL database (best effort).
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pg_name: Option<String>,
    sqlite_path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh PostgreSQL database with the current migrations applied.
    pub async fn postgres() -> TestDb {
        let name = unique_name("t");
        let template = template_name();
        let mut admin = admin().await;
        // A panic in between drops the connection, which releases the lock too.
        lock(&mut admin).await;
        ensure_template(&mut admin, &template).await;
        retry_while_busy(
            &mut admin,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await;
        unlock(&mut admin).await;
        TestDb {
            url: pg_url(&name),
            backend: Backend::Postgres,
            pg_name: Some(name),
            sqlite_path: None,
            _dir: None,
        }
    }

    /// A fresh PostgreSQL database with nothing in it (no migrations).
    pub async fn postgres_empty() -> TestDb {
        let name = unique_name("e");
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        TestDb {
            url: pg_url(&name),
            backend: Backend::Postgres,
            pg_name: Some(name),
            sqlite_path: None,
            _dir: None,
        }
    }

    /// A SQLite file in a fresh temporary directory (created by the store on connect).
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frontdesk.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            pg_name: None,
            sqlite_path: Some(path),
            _dir: Some(dir),
        }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// Runs SQL on a connection of its own, outside the store.
    pub async fn raw_execute(&self, sql: &str) -> Result<(), String> {
        match &self.sqlite_path {
            Some(path) => {
                let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap())
                    .map_err(|e| e.to_string())?;
                conn.batch_execute("PRAGMA foreign_keys = ON;")
                    .map_err(|e| e.to_string())?;
                conn.batch_execute(sql).map_err(|e| e.to_string())
            }
            None => {
                let mut conn = AsyncPgConnection::establish(&self.url)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.batch_execute(sql).await.map_err(|e| e.to_string())
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread with its own runtime
        // avoids blocking (or nesting) it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&pg_url(PG_ADMIN_DB)).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs `body` against a fresh PostgreSQL database, then a fresh SQLite file.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(Store, TestDb) -> Fut,
    Fut: Future<Output = TestDb>,
{
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        let db = body(store, db).await;
        drop(db);
    }
}

fn unique_name(kind: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("fd_store_{kind}_{}_{n}_{nanos}", std::process::id())
}

/// Named after the migrations' content, so changed migrations get a new template.
fn template_name() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        hash.update(f.strip_prefix(&root).unwrap().to_string_lossy().as_bytes());
        hash.update(std::fs::read(&f).unwrap());
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("fd_store_tmpl_{hex}")
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&pg_url(PG_ADMIN_DB))
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (user postgres, database test)")
}

async fn lock(conn: &mut AsyncPgConnection) {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .await
        .unwrap();
}

async fn unlock(conn: &mut AsyncPgConnection) {
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .await
        .unwrap();
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
    )))
    .get_result::<bool>(conn)
    .await
    .unwrap()
}

/// Builds the template under a temporary name through the real
/// `Store::connect` (so it holds exactly what production migrations create)
/// and renames it only when complete. Caller holds the template lock.
async fn ensure_template(admin: &mut AsyncPgConnection, template: &str) {
    if database_exists(admin, template).await {
        return;
    }
    let building = format!("{template}_building");
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{building}\""))
        .await
        .unwrap();
    let store = Store::connect(&pg_url(&building)).await.unwrap();
    drop(store);
    retry_while_busy(
        admin,
        &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
    )
    .await;
}

/// CREATE DATABASE ... TEMPLATE and ALTER DATABASE ... RENAME refuse while
/// any session is connected; closed pool connections take a moment to go.
async fn retry_while_busy(admin: &mut AsyncPgConnection, sql: &str) {
    for attempt in 0..100 {
        match admin.batch_execute(sql).await {
            Ok(()) => return,
            Err(e) if e.to_string().contains("being accessed by other users") && attempt < 99 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}
