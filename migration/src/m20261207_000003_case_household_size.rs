//! The size of a case's household on the case itself: the finest cells of the
//! cases (`src/stats`) group by the household's size band, and reading it from
//! `case_file` spares a national table a join of every case to its household
//! (a third of its time at 100,000 households, and a hash join that outgrows
//! memory at a million).
//!
//! Kept by the database: a case takes its household's `member_count` when it is
//! written (or moved to another household), and follows it when it changes
//! (the triggers on `member` of the previous migration change it). The column
//! is not in the entity: no field of the API shows it.

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
        db.execute_unprepared("ALTER TABLE case_file ADD COLUMN household_size integer NOT NULL DEFAULT 0").await?;
        db.execute_unprepared(
            "UPDATE case_file SET household_size = \
             COALESCE((SELECT member_count FROM household WHERE household.id = case_file.household_id), 0)",
        )
        .await?;
        let statements: &[&str] = match manager.get_database_backend() {
            DatabaseBackend::Postgres => &[
                "CREATE FUNCTION gepi_case_household_size_set() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 NEW.household_size := COALESCE((SELECT member_count FROM household WHERE id = NEW.household_id), 0); \
                 RETURN NEW; END $$",
                "CREATE TRIGGER case_household_size_set BEFORE INSERT OR UPDATE OF household_id ON case_file \
                 FOR EACH ROW EXECUTE FUNCTION gepi_case_household_size_set()",
                "CREATE FUNCTION gepi_case_household_size_follow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 UPDATE case_file SET household_size = NEW.member_count WHERE household_id = NEW.id; \
                 RETURN NULL; END $$",
                "CREATE TRIGGER case_household_size_follow AFTER UPDATE OF member_count ON household FOR EACH ROW \
                 WHEN (OLD.member_count IS DISTINCT FROM NEW.member_count) \
                 EXECUTE FUNCTION gepi_case_household_size_follow()",
            ],
            _ => &[
                "CREATE TRIGGER case_household_size_set AFTER INSERT ON case_file FOR EACH ROW BEGIN \
                 UPDATE case_file SET household_size = \
                 COALESCE((SELECT member_count FROM household WHERE id = NEW.household_id), 0) \
                 WHERE rowid = NEW.rowid; END",
                "CREATE TRIGGER case_household_size_moved AFTER UPDATE OF household_id ON case_file FOR EACH ROW BEGIN \
                 UPDATE case_file SET household_size = \
                 COALESCE((SELECT member_count FROM household WHERE id = NEW.household_id), 0) \
                 WHERE rowid = NEW.rowid; END",
                "CREATE TRIGGER case_household_size_follow AFTER UPDATE OF member_count ON household FOR EACH ROW \
                 WHEN OLD.member_count IS NOT NEW.member_count BEGIN \
                 UPDATE case_file SET household_size = NEW.member_count WHERE household_id = NEW.id; END",
            ],
        };
        for stmt in statements {
            db.execute_unprepared(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for stmt in [
                "DROP TRIGGER IF EXISTS case_household_size_set ON case_file",
                "DROP TRIGGER IF EXISTS case_household_size_follow ON household",
                "DROP FUNCTION IF EXISTS gepi_case_household_size_set()",
                "DROP FUNCTION IF EXISTS gepi_case_household_size_follow()",
            ] {
                db.execute_unprepared(stmt).await?;
            }
        } else {
            for t in ["case_household_size_set", "case_household_size_moved", "case_household_size_follow"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}")).await?;
            }
        }
        db.execute_unprepared("ALTER TABLE case_file DROP COLUMN household_size").await?;
        Ok(())
    }
}
