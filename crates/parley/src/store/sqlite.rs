//! SQLite, the embedded default: one file in the data directory, in WAL mode so
//! that readers never wait for the writer.

use super::sql::SqlStore;
use super::{Backend, StoreError, StoreResult};
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (or creates, in an existing directory) the SQLite file at `path`.
pub async fn open(path: &Path) -> StoreResult<SqlStore> {
    let url = file_url(path)?;

    let pool = AnyPoolOptions::new()
        // Readers run side by side in WAL mode; writes take turns in the store.
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|connection, _meta| {
            Box::pin(async move {
                // Per connection: wait rather than fail when another process
                // holds the write lock; check foreign keys; and FULL, because
                // an acknowledged message must survive a power cut, which in
                // WAL mode NORMAL does not promise for the last commits. The
                // wait for the disk this adds is shared by batching messages.
                connection
                    .execute(
                        "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                         PRAGMA synchronous = FULL;",
                    )
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;

    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await?;
    MIGRATOR.run(&pool).await?;

    tracing::info!(path = %path.display(), "SQLite store open");
    Ok(SqlStore::new(pool, Backend::Sqlite))
}

/// Holds the one-server lock of a SQLite database: only one `parley serve`
/// may run on a SQLite file (several instances need PostgreSQL), because two
/// would each run an outbox worker and take each other's jobs. Commands such
/// as `parley connector set` share the file without it.
#[derive(Debug)]
pub struct ServerLock {
    _file: std::fs::File,
}

/// Takes the one-server lock of the SQLite database at `path`, or says which
/// file another server holds.
pub fn lock_for_server(path: &Path) -> StoreResult<ServerLock> {
    let lock_path = path.with_extension("db.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| {
            StoreError::Config(format!(
                "could not open the lock file {}: {error}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(ServerLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Config(format!(
            "another `parley serve` is already running on {}; stop it first (several \
             instances need a PostgreSQL database)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => Err(StoreError::Config(format!(
            "could not lock {}: {error}",
            lock_path.display()
        ))),
    }
}

/// The sqlx URL for a file, created only if its directory exists: a typo in a
/// path must not quietly start an empty database somewhere else.
fn file_url(path: &Path) -> StoreResult<String> {
    if path.as_os_str().is_empty() {
        return Err(StoreError::Config(
            "the SQLite database URL names no file: use sqlite://PATH/TO/parley.db".to_owned(),
        ));
    }
    if path.is_dir() {
        return Err(StoreError::Config(format!(
            "{} is a directory; the SQLite database URL must name a file in it, \
             such as {}/parley.db",
            path.display(),
            path.display()
        )));
    }

    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(StoreError::Config(format!(
            "the directory {} does not exist, so the SQLite database {} cannot be \
             opened or created there; check the path, or create the directory first",
            parent.display(),
            path.display()
        )));
    }

    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_an_error_not_a_new_database() {
        let error = file_url(Path::new("/no/such/dir/parley.db")).unwrap_err();
        assert!(
            error.to_string().contains("/no/such/dir does not exist"),
            "{error}"
        );
    }

    #[test]
    fn a_directory_is_not_a_database_file() {
        let dir = std::env::temp_dir();
        let error = file_url(&dir).unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
    }

    #[test]
    fn only_one_server_holds_a_database() {
        let dir = crate::testing::TempDir::new("lock");
        let path = dir.path().join("parley.db");

        let first = lock_for_server(&path).unwrap();
        let second = lock_for_server(&path).unwrap_err();
        assert!(second.to_string().contains("already running"), "{second}");

        drop(first);
        assert!(
            lock_for_server(&path).is_ok(),
            "the lock ends with its holder"
        );
    }

    #[test]
    fn a_file_in_an_existing_directory_may_be_created() {
        let path = std::env::temp_dir().join("parley-url-test.db");
        let url = file_url(&path).unwrap();
        assert!(
            url.starts_with("sqlite://") && url.ends_with("?mode=rwc"),
            "{url}"
        );
    }
}
