//! A support is one row through its lifecycle: a case has at most one active
//! support of a kind by a provider. Two activations racing past the check in
//! `activateSupport` cannot both insert; the second is refused as a conflict.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A partial unique index: the same statement on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_support_active_kind_provider ON support (case_id, kind, provider) WHERE status = 'ATTIVO'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX ux_support_active_kind_provider").await?;
        Ok(())
    }
}
