//! Trusted documents: the operations an API client registered
//! (`gepi apikey documents add`). A client with registered documents may run
//! only those, named by their SHA-256 (`documentId: "sha256:<hex>"`).

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn api_client_document() -> TableDef {
    TableDef::new("api_client_document")
        .cols([
            uuid("client_id"),
            string_len("sha256", 64),
            string_len("name", 200),
            text("document"),
            timestamp_with_time_zone("created_at"),
        ])
        .pk(&["client_id", "sha256"])
        .fk("client_id", "api_client", "id")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        api_client_document().create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("api_client_document").to_owned()).await
    }
}
