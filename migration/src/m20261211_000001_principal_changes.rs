//! On PostgreSQL, a committed change to who may act is announced to every
//! instance: statement-level triggers on the tables a principal is read from
//! send a notification on the channel `gepi_principals` (delivered at commit,
//! never for a rolled-back change), and each server listens to it and reads
//! every cached principal again (`src/auth/cache.rs`). So a logout, a profile
//! switch, a suspension or a revoked key made through one instance, the
//! command line or plain SQL reaches the others at once, not after
//! `GEPI_SESSION_CACHE_SECS`.
//!
//! Only the columns a principal depends on fire: a session's `last_seen_at`
//! (touched once a minute by requests) and an operator's `last_login_at` do
//! not. SQLite has no other instance to tell.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (trigger's table, the events that fire it).
const TRIGGERS: &[(&str, &str)] = &[
    ("session", "UPDATE OF revoked_at, profile_id, expires_at, operator_id, token_hash OR DELETE OR TRUNCATE"),
    ("operator", "UPDATE OF status OR DELETE OR TRUNCATE"),
    ("profile", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("profile_comune", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("convention", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("api_client", "UPDATE OF revoked_at, key_hash, role, ambito_id, quota_points_per_hour OR DELETE OR TRUNCATE"),
    ("api_client_document", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE FUNCTION gepi_principals_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM pg_notify('gepi_principals', ''); RETURN NULL; END $$",
        )
        .await?;
        for (table, events) in TRIGGERS {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_principals_changed AFTER {events} ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION gepi_principals_changed()"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in TRIGGERS {
            db.execute_unprepared(&format!("DROP TRIGGER {table}_principals_changed ON {table}")).await?;
        }
        db.execute_unprepared("DROP FUNCTION gepi_principals_changed()").await?;
        Ok(())
    }
}
