//! The number of members of each household, kept by the database: the size
//! band of the tables of counts (`src/stats`) reads it from the household row
//! instead of counting the members of every household in the table (a
//! subquery per row took three quarters of a national table's time).
//!
//! Triggers on `member` keep it whatever writes the members (the INPS feed, the
//! seed, a test): PostgreSQL adds and subtracts once per statement, from the
//! rows it inserted or deleted (a feed's chunk of 500 households is one insert
//! of their members, so one update of the households); SQLite once per row. A
//! member moved to another household moves its count. The column is not in the
//! entity: no field of the API shows it.

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
        db.execute_unprepared("ALTER TABLE household ADD COLUMN member_count integer NOT NULL DEFAULT 0").await?;
        db.execute_unprepared(
            "UPDATE household SET member_count = \
             (SELECT COUNT(*) FROM member WHERE member.household_id = household.id)",
        )
        .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                for stmt in [
                    "CREATE FUNCTION gepi_member_count_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE household h SET member_count = h.member_count + d.n \
                     FROM (SELECT household_id, COUNT(*) AS n FROM added GROUP BY household_id) d \
                     WHERE h.id = d.household_id; RETURN NULL; END $$",
                    "CREATE FUNCTION gepi_member_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE household h SET member_count = h.member_count - d.n \
                     FROM (SELECT household_id, COUNT(*) AS n FROM removed GROUP BY household_id) d \
                     WHERE h.id = d.household_id; RETURN NULL; END $$",
                    "CREATE FUNCTION gepi_member_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     UPDATE household SET member_count = member_count - 1 WHERE id = OLD.household_id; \
                     UPDATE household SET member_count = member_count + 1 WHERE id = NEW.household_id; \
                     RETURN NULL; END $$",
                    "CREATE TRIGGER member_count_added AFTER INSERT ON member REFERENCING NEW TABLE AS added \
                     FOR EACH STATEMENT EXECUTE FUNCTION gepi_member_count_added()",
                    "CREATE TRIGGER member_count_removed AFTER DELETE ON member REFERENCING OLD TABLE AS removed \
                     FOR EACH STATEMENT EXECUTE FUNCTION gepi_member_count_removed()",
                    "CREATE TRIGGER member_count_moved AFTER UPDATE OF household_id ON member FOR EACH ROW \
                     WHEN (OLD.household_id IS DISTINCT FROM NEW.household_id) \
                     EXECUTE FUNCTION gepi_member_count_moved()",
                ] {
                    db.execute_unprepared(stmt).await?;
                }
            }
            _ => {
                for stmt in [
                    "CREATE TRIGGER member_count_added AFTER INSERT ON member FOR EACH ROW BEGIN \
                     UPDATE household SET member_count = member_count + 1 WHERE id = NEW.household_id; END",
                    "CREATE TRIGGER member_count_removed AFTER DELETE ON member FOR EACH ROW BEGIN \
                     UPDATE household SET member_count = member_count - 1 WHERE id = OLD.household_id; END",
                    "CREATE TRIGGER member_count_moved AFTER UPDATE OF household_id ON member FOR EACH ROW \
                     WHEN OLD.household_id IS NOT NEW.household_id BEGIN \
                     UPDATE household SET member_count = member_count - 1 WHERE id = OLD.household_id; \
                     UPDATE household SET member_count = member_count + 1 WHERE id = NEW.household_id; END",
                ] {
                    db.execute_unprepared(stmt).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for t in ["member_count_added", "member_count_removed", "member_count_moved"] {
            let on = if manager.get_database_backend() == DatabaseBackend::Postgres { " ON member" } else { "" };
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}{on}")).await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for f in ["gepi_member_count_added", "gepi_member_count_removed", "gepi_member_count_moved"] {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {f}()")).await?;
            }
        }
        db.execute_unprepared("ALTER TABLE household DROP COLUMN member_count").await?;
        Ok(())
    }
}
