//! The hourly quota of an API client: points of operation cost (the complexity
//! the executor computes) it may spend per hour. NULL: the deployment's
//! default (`GEPI_API_QUOTA_POINTS_PER_HOUR`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("api_client").add_column(integer_null("quota_points_per_hour")).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("api_client").drop_column("quota_points_per_hour").to_owned()).await
    }
}
