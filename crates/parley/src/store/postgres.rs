//! PostgreSQL, for several Parley instances on one database.

use super::sql::SqlStore;
use super::{Backend, StoreResult};
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to the server at `url` and brings the schema up to date.
pub async fn open(url: &str) -> StoreResult<SqlStore> {
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;

    // Several instances may start at once; the migrator takes an advisory
    // lock, so only one of them applies each migration.
    MIGRATOR.run(&pool).await?;

    tracing::info!("PostgreSQL store open");
    Ok(SqlStore::new(pool, Backend::Postgres))
}
