//! DATABASE_URL: which backend, where, and how to print it without secrets.

use std::path::PathBuf;

use super::error::StoreError;

/// The backend a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The default when DATABASE_URL is unset: a file next to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/frontdesk.db";

/// A DATABASE_URL that has been checked enough to try connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatabaseTarget {
    /// The URL exactly as given (tokio-postgres parses it again).
    Postgres {
        url: String,
        redacted: String,
    },
    /// A file path, relative to the working directory unless absolute.
    SqliteFile(PathBuf),
    SqliteMemory,
}

impl DatabaseTarget {
    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(StoreError::BadUrl("DATABASE_URL is empty".to_owned()));
        }
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(StoreError::BadUrl(format!(
                "{:?} has no scheme; expected postgres://..., postgresql://... or sqlite://path",
                redact(raw)
            )));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => parse_postgres(raw),
            "sqlite" => parse_sqlite(rest),
            other => Err(StoreError::BadUrl(format!(
                "unsupported scheme {other:?} in {:?}; expected postgres://, postgresql:// or sqlite://",
                redact(raw)
            ))),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::Postgres { .. } => Backend::Postgres,
            DatabaseTarget::SqliteFile(_) | DatabaseTarget::SqliteMemory => Backend::Sqlite,
        }
    }

    /// How to name this database in logs and errors.
    pub(crate) fn describe(&self) -> String {
        match self {
            DatabaseTarget::Postgres { redacted, .. } => redacted.clone(),
            DatabaseTarget::SqliteFile(path) => format!("sqlite://{}", path.display()),
            DatabaseTarget::SqliteMemory => "sqlite::memory:".to_owned(),
        }
    }
}

fn parse_postgres(raw: &str) -> Result<DatabaseTarget, StoreError> {
    let parsed = url::Url::parse(raw).map_err(|e| {
        StoreError::BadUrl(format!(
            "{:?} is not a valid PostgreSQL URL: {e}",
            redact(raw)
        ))
    })?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(StoreError::BadUrl(format!(
            "{:?} names no host; expected postgres://user@host[:port]/database",
            redact(raw)
        )));
    }
    let database = parsed.path().trim_start_matches('/');
    if database.is_empty() {
        return Err(StoreError::BadUrl(format!(
            "{:?} names no database; expected postgres://user@host[:port]/database",
            redact(raw)
        )));
    }
    Ok(DatabaseTarget::Postgres {
        url: raw.to_owned(),
        redacted: redact(raw),
    })
}

fn parse_sqlite(rest: &str) -> Result<DatabaseTarget, StoreError> {
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(DatabaseTarget::SqliteMemory);
    }
    // sqlite://relative/path and sqlite:///absolute/path; sqlite:path is accepted too.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if path.is_empty() {
        return Err(StoreError::BadUrl(
            "sqlite URL names no file; expected sqlite://path/to/file.db or sqlite::memory:"
                .to_owned(),
        ));
    }
    if path.ends_with('/') {
        return Err(StoreError::BadUrl(format!(
            "sqlite URL names a directory ({path:?}), not a database file"
        )));
    }
    Ok(DatabaseTarget::SqliteFile(PathBuf::from(path)))
}

/// The URL with its password replaced, safe to log.
pub(crate) fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("***")).is_ok() {
                parsed.to_string()
            } else {
                "<unprintable URL>".to_owned()
            }
        }
        Ok(parsed) => parsed.to_string(),
        // Unparseable: print only the scheme, the rest may hold a secret.
        Err(_) => match raw.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:<redacted>"),
            None => "<redacted>".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_accepted_with_both_schemes() {
        for url in [
            "postgres://u@localhost/db",
            "postgresql://u:pw@10.0.0.1:5433/db?sslmode=disable",
        ] {
            let target = DatabaseTarget::parse(url).unwrap();
            assert_eq!(target.backend(), Backend::Postgres);
        }
    }

    #[test]
    fn password_never_appears_in_the_description() {
        let target = DatabaseTarget::parse("postgres://u:hunter2@localhost/db").unwrap();
        assert!(!target.describe().contains("hunter2"));
        assert!(target.describe().contains("***"));
    }

    #[test]
    fn sqlite_relative_absolute_and_memory() {
        assert_eq!(
            DatabaseTarget::parse("sqlite://data/frontdesk.db").unwrap(),
            DatabaseTarget::SqliteFile(PathBuf::from("data/frontdesk.db"))
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/fd.db").unwrap(),
            DatabaseTarget::SqliteFile(PathBuf::from("/var/lib/fd.db"))
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite::memory:").unwrap(),
            DatabaseTarget::SqliteMemory
        );
        assert_eq!(
            DatabaseTarget::parse(DEFAULT_DATABASE_URL)
                .unwrap()
                .backend(),
            Backend::Sqlite
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("mysql://u@h/db", "unsupported scheme \"mysql\""),
            ("nonsense", "no scheme"),
            ("sqlite://", "names no file"),
            ("sqlite://data/", "directory"),
            ("postgres://u@/db", "empty host"),
            ("postgres://u@localhost", "no database"),
            ("postgres://u@[::1/db", "not a valid PostgreSQL URL"),
        ];
        for (url, expected) in cases {
            match DatabaseTarget::parse(url) {
                Err(StoreError::BadUrl(msg)) => {
                    assert!(
                        msg.contains(expected),
                        "{url:?}: {msg:?} lacks {expected:?}"
                    )
                }
                other => panic!("{url:?}: expected BadUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn unparseable_url_redaction_keeps_only_the_scheme() {
        assert_eq!(redact("postgres://u:secret@[::1/db"), "postgres:<redacted>");
    }
}
