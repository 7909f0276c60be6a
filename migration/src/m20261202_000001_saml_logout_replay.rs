//! Replay cache of SPID LogoutRequests: an IdP-initiated logout is honoured
//! once. Each row lives while the request's IssueInstant is inside the window
//! the service accepts (then the instant alone refuses it), and is purged by
//! the next logout.

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn saml_logout_request() -> TableDef {
    TableDef::new("saml_logout_request")
        .cols([string("idp_entity_id"), string_len("id", 256), timestamp_with_time_zone("expires_at")])
        .pk(&["idp_entity_id", "id"])
        .idx(&["expires_at"])
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Atomic even when run on its own through sea-orm-migration (whose default
    /// leaves SQLite without a transaction); `gepi::db::migrate` also wraps the
    /// whole chain in one transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        saml_logout_request().create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("saml_logout_request").to_owned()).await
    }
}
