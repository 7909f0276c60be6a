//! Workflow integrity (issue 18):
//! - a residency outcome that contradicts the requirement computed from the
//!   recorded periods carries its coded reason and text on the check
//!   (`override_reason`, `override_note`), and the segnalazione it raises
//!   carries the reason too (`report.override_reason`), for the coordinator who
//!   approves it and for INPS;
//! - a segnalazione already sent can be annulled: the request is a new
//!   segnalazione naming the one it withdraws, as a rectification does, marked
//!   `annuls` (`report.annuls`).
//!
//! Columns only, nullable or with a default: the rows already there read as
//! outcomes with no contradiction and rectifications that annul nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in [
            "ALTER TABLE residency_check ADD COLUMN override_reason varchar(40)",
            "ALTER TABLE residency_check ADD COLUMN override_note text",
            "ALTER TABLE report ADD COLUMN override_reason varchar(40)",
            "ALTER TABLE report ADD COLUMN annuls boolean NOT NULL DEFAULT false",
        ] {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column) in [
            ("report", "annuls"),
            ("report", "override_reason"),
            ("residency_check", "override_note"),
            ("residency_check", "override_reason"),
        ] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN {column}")).await?;
        }
        Ok(())
    }
}
