//! Helpers for tests, here and in `tests/`: throwaway data directories and
//! databases on both backends.
//!
//! PostgreSQL tests read the server's URL from `PARLEY_TEST_POSTGRES_URL`
//! (`.ci/run` sets it); without it they say they skipped and pass.

use crate::store::{self, Store, StoreResult};
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// The environment variable that names a PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "PARLEY_TEST_POSTGRES_URL";

/// A directory under the system's temporary directory, removed when dropped
/// (unless `PARLEY_TEST_KEEP` is set, for looking at it after a failure).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("parley-{label}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("the system temporary directory is writable");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("PARLEY_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A database that exists for one test: a SQLite file in a temporary
/// directory, or a fresh database on the test PostgreSQL server, dropped at
/// the end.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] TempDir),
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = TempDir::new("db");
        let url = format!("sqlite://{}", dir.path().join("parley.db").display());
        Self {
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so) when no test
    /// server is configured.
    pub async fn postgres(test_name: &str) -> Option<Self> {
        let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("skipped {test_name} on PostgreSQL: {POSTGRES_URL_VAR} is not set");
            return None;
        };

        let database = Self::postgres_at(&server_url)
            .await
            .expect("the test PostgreSQL server answers and its role may create databases");
        Some(database)
    }

    /// A fresh database on the PostgreSQL server at `server_url` (whose role
    /// may create databases), dropped when this is; the benchmark uses it too.
    pub async fn postgres_at(server_url: &str) -> Result<Self, sqlx::Error> {
        let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(server_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;

        Ok(Self {
            url: replace_database(server_url, &name),
            cleanup: Cleanup::Postgres {
                server_url: server_url.to_owned(),
                name,
            },
        })
    }

    pub async fn open(&self) -> StoreResult<Box<dyn Store>> {
        store::open(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { server_url, name } = &self.cleanup else {
            return;
        };
        if std::env::var_os("PARLEY_TEST_KEEP").is_some() {
            return;
        }

        // Drop runs outside any runtime's async context, so the clean-up gets
        // a small runtime of its own on a plain thread.
        let (server_url, name) = (server_url.clone(), name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&server_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// The same server URL with another database name in its path.
fn replace_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let after_scheme = base.find("://").map_or(0, |index| index + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            replace_database("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://root@127.0.0.1:5432", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
