//! The audit trail as a Merkle tree (`src/audit/log.rs`): every event becomes
//! a leaf, numbered in the order the sequencer takes them, and signed
//! checkpoints of the tree heads are kept.
//!
//! - `audit_pending`: the events not yet in the tree. A trigger on
//!   `audit_event` fills it in the transaction that writes the events (once
//!   per statement on PostgreSQL, from the rows it inserted; once per row on
//!   SQLite), so an event is in the tree only once committed, whatever order
//!   concurrent transactions commit in. The existing events are queued here.
//! - `audit_leaf`: leaf `seq` is event `event_id`, with the leaf hash.
//! - `audit_node`: the root of every perfect subtree of 256 leaves or more
//!   (height ≥ 8, index at that height), so that a proof reads a few of them
//!   and at most two runs of 256 leaves instead of every leaf.
//! - `audit_tree`: one row, the tree's size and right edge (`frontier`) after
//!   the last batch; the sequencer locks it to take its turn.
//! - `audit_checkpoint`: every signed checkpoint, as signed.
//!
//! - `audit_event.operation`: the name of the GraphQL operation a request ran,
//!   the reason the per-person access report gives for each line.
//!
//! The trigger only feeds the queue: the evidence is the leaf hashes and the
//! signed checkpoints, which `gepi audit verify` recomputes from the events.

use crate::table_def::TableDef;
use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![
        TableDef::new("audit_pending").cols([uuid("event_id")]).pk(&["event_id"]),
        TableDef::new("audit_leaf")
            .cols([big_integer("seq"), uuid("event_id"), blob("hash")])
            .pk(&["seq"])
            .uniq(&["event_id"]),
        TableDef::new("audit_node")
            .cols([small_integer("height"), big_integer("idx"), blob("hash")])
            .pk(&["height", "idx"]),
        TableDef::new("audit_tree")
            .cols([integer("id"), big_integer("size"), blob("frontier"), timestamp_with_time_zone("updated_at")])
            .pk(&["id"]),
        TableDef::new("audit_checkpoint")
            .cols([uuid("id"), big_integer("size"), blob("root"), timestamp_with_time_zone("signed_at"), text("note")])
            .pk(&["id"])
            .idx(&["signed_at"])
            .idx(&["size"]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in tables() {
            t.create(manager).await?;
        }
        let db = manager.get_connection();
        // The operation a request ran: why it did what the event records.
        db.execute_unprepared("ALTER TABLE audit_event ADD COLUMN operation varchar(64)").await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
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
                db.execute_unprepared(
                    "INSERT INTO audit_tree (id, size, frontier, updated_at) VALUES (1, 0, ''::bytea, now())",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_pending AFTER INSERT ON audit_event FOR EACH ROW BEGIN \
                     INSERT INTO audit_pending (event_id) VALUES (NEW.id); END",
                )
                .await?;
                db.execute_unprepared(
                    "INSERT INTO audit_tree (id, size, frontier, updated_at) \
                     VALUES (1, 0, X'', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                )
                .await?;
            }
        }
        db.execute_unprepared("INSERT INTO audit_pending (event_id) SELECT id FROM audit_event").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_pending ON audit_event").await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS gepi_audit_pending()").await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS audit_event_pending").await?;
        }
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        db.execute_unprepared("ALTER TABLE audit_event DROP COLUMN operation").await?;
        Ok(())
    }
}
