//! On PostgreSQL, the audit sequencer finds new events by their transaction
//! instead of a queue (`src/audit/log.rs`), so that writing an event costs the
//! request one index entry instead of a trigger, a transition table and a
//! second row:
//!
//! - `audit_event.xid` (PostgreSQL only): the id of the transaction that wrote
//!   the event (`pg_current_xact_id()`, 64 bits, never wraps), indexed with
//!   the event's id. Every transaction below the horizon of a snapshot
//!   (`pg_snapshot_xmin`) has ended, so the events below it are final: the
//!   sequencer takes them in `(xid, id)` order from where it stopped, and no
//!   event committed late is ever skipped.
//! - `audit_tree.cursor_xid`, `cursor_event`: where the sequencer stopped.
//! - The queueing trigger is dropped on PostgreSQL; the events it queued
//!   before this migration (their `xid` is null) are sequenced first, from
//!   `audit_pending`. SQLite keeps the trigger and the queue: it has one
//!   writer at a time, and no transaction ids to read.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE audit_tree ADD COLUMN cursor_xid bigint").await?;
        db.execute_unprepared("ALTER TABLE audit_tree ADD COLUMN cursor_event uuid").await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // A column added without a default keeps the existing rows as they
            // are (null: they are in the queue), and the default applies to new ones.
            db.execute_unprepared("ALTER TABLE audit_event ADD COLUMN xid xid8").await?;
            db.execute_unprepared("ALTER TABLE audit_event ALTER COLUMN xid SET DEFAULT pg_current_xact_id()").await?;
            db.execute_unprepared("CREATE INDEX idx_audit_event_xid ON audit_event (xid, id)").await?;
            db.execute_unprepared("DROP TRIGGER audit_event_pending ON audit_event").await?;
            db.execute_unprepared("DROP FUNCTION gepi_audit_pending()").await?;
            db.execute_unprepared("UPDATE audit_tree SET cursor_xid = 0 WHERE id = 1").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE FUNCTION gepi_audit_pending() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 INSERT INTO audit_pending (event_id) SELECT id FROM added; RETURN NULL; END $$",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER audit_event_pending AFTER INSERT ON audit_event REFERENCING NEW TABLE AS added \
                 FOR EACH STATEMENT EXECUTE FUNCTION gepi_audit_pending()",
            )
            .await?;
            // The events the sequencer has not reached go back to the queue.
            db.execute_unprepared(
                "INSERT INTO audit_pending (event_id) SELECT e.id FROM audit_event e \
                 WHERE NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.event_id = e.id) \
                 ON CONFLICT DO NOTHING",
            )
            .await?;
            db.execute_unprepared("DROP INDEX idx_audit_event_xid").await?;
            db.execute_unprepared("ALTER TABLE audit_event DROP COLUMN xid").await?;
        }
        db.execute_unprepared("ALTER TABLE audit_tree DROP COLUMN cursor_event").await?;
        db.execute_unprepared("ALTER TABLE audit_tree DROP COLUMN cursor_xid").await?;
        Ok(())
    }
}
