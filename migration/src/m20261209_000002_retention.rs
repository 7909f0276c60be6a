//! Retention and legal holds (`src/retention`):
//!
//! - `legal_hold`: a hold on a case, a household or a person (codice fiscale),
//!   with its holder and legal basis, in force until released; it blocks every
//!   purge and anonymisation of what it covers.
//! - `household.anonymised_at`: when retention anonymised the household (its
//!   members' identity, the free texts of its cases), so it is done once. Not
//!   in the entity: no field of the API shows it.
//! - `audit_purge_permit`: the append-only triggers of `audit_event` let a
//!   `DELETE` through only while this table holds a row, which the retention's
//!   purge writes and removes in its own transaction (so no other transaction
//!   ever sees it), and only of an event older than 183 days (the floor of
//!   the trail's retention) that is not a tombstone. The purged events keep
//!   their leaves in the audit tree, and a content-free tombstone event names
//!   them: verification goes on, and accepts only tombstones that could be
//!   true (see `audit::log::purged_leaves`).

use crate::table_def::TableDef;
use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![
        TableDef::new("legal_hold")
            .cols([
                uuid("id"),
                string_len("scope", 20),
                uuid_null("case_id"),
                uuid_null("household_id"),
                string_len_null("fiscal_code", 16),
                string_len("holder", 200),
                text("legal_basis"),
                timestamp_with_time_zone("placed_at"),
                timestamp_with_time_zone_null("released_at"),
                text_null("release_reason"),
            ])
            .pk(&["id"])
            .idx(&["released_at"]),
        TableDef::new("audit_purge_permit").cols([integer("id")]).pk(&["id"]),
    ]
}

const PG_APPEND_ONLY: &str = "CREATE OR REPLACE FUNCTION gepi_audit_append_only() RETURNS trigger AS $$
     BEGIN
       RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
     END $$ LANGUAGE plpgsql;";

const SQLITE_NO_DELETE: &str = "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
     BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END;";

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
        db.execute_unprepared("ALTER TABLE household ADD COLUMN anonymised_at timestamp with time zone").await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION gepi_audit_append_only() RETURNS trigger AS $$
                     BEGIN
                       IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_purge_permit)
                          AND OLD.occurred_at < now() - interval '183 days' AND OLD.action <> 'purge' THEN
                         RETURN OLD;
                       END IF;
                       RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
                     END $$ LANGUAGE plpgsql;",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER audit_event_no_delete").await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
                     WHEN NOT EXISTS (SELECT 1 FROM audit_purge_permit)
                       OR OLD.occurred_at >= datetime('now', '-183 days') OR OLD.action = 'purge'
                     BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END;",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(PG_APPEND_ONLY).await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER audit_event_no_delete").await?;
                db.execute_unprepared(SQLITE_NO_DELETE).await?;
            }
        }
        db.execute_unprepared("ALTER TABLE household DROP COLUMN anonymised_at").await?;
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        Ok(())
    }
}
