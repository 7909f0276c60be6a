//! The audit trail is append-only: the code has no update or delete path, and
//! the database refuses them too (a trigger on PostgreSQL and on SQLite), so
//! that not even a mistaken maintenance script can rewrite history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Atomic even when run on its own through sea-orm-migration (whose default
    /// leaves SQLite without a transaction); `gepi::db::migrate` also wraps the
    /// whole chain in one transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION gepi_audit_append_only() RETURNS trigger AS $$
                     BEGIN
                       RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
                     END $$ LANGUAGE plpgsql;",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
                     FOR EACH ROW EXECUTE FUNCTION gepi_audit_append_only();",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
                     FOR EACH STATEMENT EXECUTE FUNCTION gepi_audit_append_only();",
                )
                .await?;
            }
            DatabaseBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
                     BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END;",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
                     BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END;",
                )
                .await?;
            }
            other => return Err(DbErr::Migration(format!("unsupported backend {other:?}"))),
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event").await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event").await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS gepi_audit_append_only()").await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_no_update").await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_no_delete").await?;
            }
        }
        Ok(())
    }
}
