//! The record key of the cell-key method (`src/stats`): every unit an aggregate
//! counts (a household, a member, a case, a meeting, a PUC assignment, a
//! residency check, a segnalazione, a validation request) carries a secret
//! random number in `[0, 2^20)`, drawn by the database when the row is written
//! and never changed nor shown. A cell's key is the sum of its units' keys, so
//! the same units always get the same noise, and a cell that gained or lost a
//! unit gets another.
//!
//! PostgreSQL fills existing and new rows from a volatile column default. SQLite
//! cannot add a column with a non-constant default: existing rows are filled by
//! an update and new ones by a trigger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows are units of a measure.
pub const UNIT_TABLES: &[&str] = &[
    "household",
    "member",
    "case_file",
    "meeting",
    "puc_assignment",
    "residency_check",
    "report",
    "disadvantage_check",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for t in UNIT_TABLES {
            match manager.get_database_backend() {
                DatabaseBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {t} ADD COLUMN record_key integer NOT NULL DEFAULT floor(random() * 1048576)::integer"
                    ))
                    .await?;
                }
                _ => {
                    db.execute_unprepared(&format!("ALTER TABLE {t} ADD COLUMN record_key integer")).await?;
                    db.execute_unprepared(&format!("UPDATE {t} SET record_key = abs(random()) % 1048576")).await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {t}_record_key AFTER INSERT ON {t} FOR EACH ROW WHEN NEW.record_key IS NULL \
                         BEGIN UPDATE {t} SET record_key = abs(random()) % 1048576 WHERE rowid = NEW.rowid; END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for t in UNIT_TABLES {
            if manager.get_database_backend() == DatabaseBackend::Sqlite {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}_record_key")).await?;
            }
            db.execute_unprepared(&format!("ALTER TABLE {t} DROP COLUMN record_key")).await?;
        }
        Ok(())
    }
}
