//! Opening the store: URLs, unreachable databases, migrations.

use std::time::{Duration, Instant};

use crate::store_support::TestDb;
use frontdesk::store::{Backend, RecordRow, Store, StoreError};

fn started(call_sid: &str) -> RecordRow {
    RecordRow::CallStarted {
        transport: "twilio".into(),
        call_sid: call_sid.into(),
        business_number: "+15550100".into(),
        from_number: "+15550199".into(),
        to_number: "+15550100".into(),
        started_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn bad_urls_are_rejected_at_once_with_the_reason() {
    let cases = [
        ("", "empty"),
        ("mysql://root@localhost/db", "unsupported scheme \"mysql\""),
        ("localhost:5432", "unsupported scheme"),
        ("sqlite://", "names no file"),
        ("postgres://postgres@127.0.0.1:5432", "names no database"),
        (
            "postgres://postgres:secret@[::1/db",
            "not a valid PostgreSQL URL",
        ),
    ];
    for (url, expected) in cases {
        let started = Instant::now();
        let err = Store::connect_with_retry(url, None).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url:?} was retried"
        );
        match &err {
            StoreError::BadUrl(msg) => assert!(
                msg.contains(expected),
                "{url:?}: {msg:?} lacks {expected:?}"
            ),
            other => panic!("{url:?}: expected BadUrl, got {other:?}"),
        }
        assert!(
            !err.to_string().contains("secret"),
            "password leaked: {err}"
        );
        assert!(err.to_string().starts_with("bad DATABASE_URL"), "{err}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_reported_and_retried_until_max_wait() {
    let url = "postgres://postgres:pw@127.0.0.1:1/x";
    let err = Store::connect(url).await.unwrap_err();
    match &err {
        StoreError::Unreachable(msg) => {
            assert!(msg.contains("127.0.0.1:1"), "names the database: {msg}");
            assert!(!msg.contains("pw@"), "password leaked: {msg}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_transient());

    let started = Instant::now();
    let err = Store::connect_with_retry(url, Some(Duration::from_millis(1500)))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "gave up too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "gave up too late: {waited:?}"
    );
    match err {
        StoreError::Unreachable(msg) => assert!(msg.contains("gave up after"), "{msg}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_with_retry_succeeds_once_the_database_is_there() {
    let db = TestDb::postgres().await;
    let store = Store::connect_with_retry(&db.url, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_creates_parent_directories_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/frontdesk.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(path.exists());
    store.write_batch(&[started("CA1")]).await.unwrap();
    drop(store);
    // Reopening finds the schema current and the data intact.
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.list_calls(10).await.unwrap().len(), 1);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_memory_works_for_tests() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.write_batch(&[started("CA1")]).await.unwrap();
    assert_eq!(store.list_calls(10).await.unwrap()[0].call_sid, "CA1");
}

#[tokio::test]
async fn sqlite_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a database"), "{err}");
}

async fn expect_migration_conflict(db: &TestDb) {
    db.raw_execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, note TEXT)")
        .await
        .unwrap();
    let started = Instant::now();
    let err = Store::connect_with_retry(&db.url, None).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a migration conflict must not be retried"
    );
    match err {
        StoreError::Migration(msg) => {
            assert!(msg.contains("calls"), "names the table: {msg}");
            assert!(msg.contains("already exists"), "{msg}");
        }
        other => panic!("{:?}: expected Migration, got {other:?}", db.backend),
    }
}

#[tokio::test]
async fn a_foreign_calls_table_is_a_migration_conflict_on_postgres() {
    expect_migration_conflict(&TestDb::postgres_empty().await).await;
}

#[tokio::test]
async fn a_foreign_calls_table_is_a_migration_conflict_on_sqlite() {
    expect_migration_conflict(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn migrations_from_a_newer_build_are_refused_by_name() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        drop(db.store().await);
        db.raw_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')",
        )
        .await
        .unwrap();
        match Store::connect(&db.url).await.unwrap_err() {
            StoreError::Migration(msg) => assert!(msg.contains("29990101000000"), "{msg}"),
            other => panic!("{:?}: expected Migration, got {other:?}", db.backend),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let db = TestDb::postgres_empty().await;
    let connects: Vec<_> = (0..4).map(|_| Store::connect(&db.url)).collect();
    for result in futures_util::future::join_all(connects).await {
        result.unwrap().ping().await.unwrap();
    }
}
