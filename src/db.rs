//! Database connection and migrations. SQLite is the embedded default (a file,
//! created on first start); PostgreSQL is the production database. Statement
//! logging of the driver is off: statements carry personal data as parameters.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::Config;

pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    connect_url(&config.database_url, config.db_max_connections).await
}

pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers proceed while a writer commits; foreign keys are on by
        // default in the driver, asserted here because the schema relies on them.
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Rolls back `steps` migrations (all when `None`).
pub async fn rollback(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    Migrator::down(db, steps).await
}

/// Liveness of the database, for `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
