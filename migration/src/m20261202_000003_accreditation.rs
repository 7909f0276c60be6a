//! Accreditation (`spec/domain.md` §1.3, §1.4, §2.1): operators belong to the
//! Ambito whose administrator manages them (null for the Ministry's own), rows an
//! administrator changes carry a version for the optimistic check, a profile is
//! paid by a set of funding sources (codes of a closed list), a convention keeps
//! its signed PDF (in its own table, so lists never read it) with size and hash.
//!
//! Two invariants of the platform are kept by the database as well as by the
//! code, on SQLite and PostgreSQL alike: at most one Ambito administrator
//! profile in force per Ambito on any date, and the administrator holds no other
//! profile in that Ambito. Triggers check overlapping validity among active
//! profiles; on PostgreSQL the Ambito row is locked first (`FOR NO KEY UPDATE`,
//! which does not block the foreign-key checks of ordinary work), so two transactions
//! racing past the service's own check cannot both commit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Message the triggers raise; the service maps it to `CONFLICT`.
pub const ONE_ADMIN: &str = "gepi: one Ambito administrator in force per Ambito, holding no other profile there";

/// Old free-text funding labels of earlier data → codes of the closed list.
const FUNDING_BACKFILL: &str = "UPDATE profile SET funding_sources = CASE funding_sources
      WHEN 'Fondo Povertà' THEN 'FONDO_POVERTA'
      WHEN 'PON Inclusione' THEN 'PON_INCLUSIONE'
      WHEN 'Bilancio comunale' THEN 'BILANCIO_COMUNALE'
      ELSE 'ALTRO' END
    WHERE funding_sources IS NOT NULL";

/// Active profiles overlapping NEW in time, in NEW's Ambito, that NEW may not
/// coexist with: another administrator of the Ambito, or (when either of the two
/// is the administrator) another profile of the same operator.
const CLASH: &str = "SELECT 1 FROM profile p
     WHERE p.id <> NEW.id AND p.status = 'ACTIVE' AND p.ambito_id = NEW.ambito_id
       AND p.valid_from <= COALESCE(NEW.valid_to, DATE '9999-12-31')
       AND NEW.valid_from <= COALESCE(p.valid_to, DATE '9999-12-31')
       AND ((p.role = 'ambito_admin' AND NEW.role = 'ambito_admin')
         OR (p.operator_id = NEW.operator_id AND (p.role = 'ambito_admin' OR NEW.role = 'ambito_admin')))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let mut op = Table::alter().table("operator").add_column(uuid_null("ambito_id")).to_owned();
        if backend == DatabaseBackend::Postgres {
            op.add_foreign_key(
                TableForeignKey::new()
                    .name("fk_operator_ambito_id")
                    .from_tbl("operator")
                    .from_col("ambito_id")
                    .to_tbl("ambito")
                    .to_col("id")
                    .on_delete(ForeignKeyAction::Restrict),
            );
        }
        manager.alter_table(op).await?;
        manager
            .alter_table(Table::alter().table("operator").add_column(integer("version").default(1)).to_owned())
            .await?;
        // Earlier data: an operator belongs to the Ambito of its profiles.
        db.execute_unprepared(
            "UPDATE operator SET ambito_id = (SELECT p.ambito_id FROM profile p
               WHERE p.operator_id = operator.id AND p.ambito_id IS NOT NULL ORDER BY p.created_at, p.id LIMIT 1)",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_operator_ambito_id_last_name_first_name_id")
                    .table("operator")
                    .col("ambito_id")
                    .col("last_name")
                    .col("first_name")
                    .col("id")
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(Table::alter().table("profile").rename_column("funding_source", "funding_sources").to_owned())
            .await?;
        db.execute_unprepared(FUNDING_BACKFILL).await?;
        manager
            .alter_table(Table::alter().table("profile").add_column(integer("version").default(1)).to_owned())
            .await?;

        manager
            .alter_table(Table::alter().table("convention").add_column(integer("version").default(1)).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table("convention").add_column(big_integer_null("document_size")).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("convention_document")
                    .col(uuid("convention_id").primary_key())
                    .col(blob("content"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_convention_document_convention_id")
                            .from("convention_document", "convention_id")
                            .to("convention", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        match backend {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION gepi_profile_admin_rules() RETURNS trigger AS $$
                     BEGIN
                       IF NEW.status = 'ACTIVE' AND NEW.ambito_id IS NOT NULL THEN
                         -- Serialise changes of profiles in this Ambito: the check below
                         -- then sees every committed competitor.
                         PERFORM 1 FROM ambito WHERE id = NEW.ambito_id FOR NO KEY UPDATE;
                         IF EXISTS ({CLASH}) THEN
                           RAISE EXCEPTION '{ONE_ADMIN}' USING ERRCODE = 'check_violation';
                         END IF;
                       END IF;
                       RETURN NEW;
                     END $$ LANGUAGE plpgsql;"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER profile_admin_rules BEFORE INSERT OR UPDATE ON profile
                     FOR EACH ROW EXECUTE FUNCTION gepi_profile_admin_rules();",
                )
                .await?;
            }
            DatabaseBackend::Sqlite => {
                // SQLite has no DATE literal: dates are ISO text, compared as text.
                let clash = CLASH.replace("DATE '9999-12-31'", "'9999-12-31'");
                for (name, event) in
                    [("profile_admin_rules_insert", "INSERT"), ("profile_admin_rules_update", "UPDATE")]
                {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {name} BEFORE {event} ON profile
                         WHEN NEW.status = 'ACTIVE' AND NEW.ambito_id IS NOT NULL
                         BEGIN SELECT RAISE(ABORT, '{ONE_ADMIN}') WHERE EXISTS ({clash}); END;"
                    ))
                    .await?;
                }
            }
            other => return Err(DbErr::Migration(format!("unsupported backend {other:?}"))),
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS profile_admin_rules ON profile").await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS gepi_profile_admin_rules()").await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS profile_admin_rules_insert").await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS profile_admin_rules_update").await?;
            }
        }
        manager.drop_table(Table::drop().table("convention_document").to_owned()).await?;
        manager.alter_table(Table::alter().table("convention").drop_column("document_size").to_owned()).await?;
        manager.alter_table(Table::alter().table("convention").drop_column("version").to_owned()).await?;
        manager.alter_table(Table::alter().table("profile").drop_column("version").to_owned()).await?;
        manager
            .alter_table(Table::alter().table("profile").rename_column("funding_sources", "funding_source").to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop().name("ix_operator_ambito_id_last_name_first_name_id").table("operator").to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("ALTER TABLE operator DROP CONSTRAINT IF EXISTS fk_operator_ambito_id").await?;
        }
        manager.alter_table(Table::alter().table("operator").drop_column("version").to_owned()).await?;
        manager.alter_table(Table::alter().table("operator").drop_column("ambito_id").to_owned()).await?;
        Ok(())
    }
}
