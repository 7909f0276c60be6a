//! The INPS feed's bookkeeping: each import (a job, with its counts), each
//! record applied (by INPS's feed sequence number, with the SHA-256 of its
//! content, so that a record sent again changes nothing and a number reused
//! for other content is refused), and the rows a job rejected (line, code,
//! field, message: never the content of the row); and the index that finds
//! the case of an application.

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![
        TableDef::new("inps_feed_job")
            .cols([
                uuid("id"),
                string_len("feed_id", 100),
                string_len("source", 20),
                uuid_null("api_client_id"),
                string_len("state", 20),
                big_integer("received"),
                big_integer("applied"),
                big_integer("unchanged"),
                big_integer("rejected"),
                text_null("error"),
                timestamp_with_time_zone("started_at"),
                timestamp_with_time_zone_null("finished_at"),
            ])
            .pk(&["id"])
            .fk("api_client_id", "api_client", "id")
            .idx(&["api_client_id", "started_at"]),
        TableDef::new("inps_feed_record")
            .cols([
                big_integer("seq"),
                string_len("kind", 20),
                string_len("protocol", 40),
                string_len("sha256", 64),
                uuid("job_id"),
                boolean("changed"),
                timestamp_with_time_zone("applied_at"),
            ])
            .pk(&["seq"])
            .fk("job_id", "inps_feed_job", "id")
            .idx(&["job_id"]),
        TableDef::new("inps_feed_rejection")
            .cols([
                uuid("job_id"),
                big_integer("line"),
                big_integer_null("seq"),
                string_len("code", 20),
                string_len_null("field", 200),
                text("message"),
            ])
            .pk(&["job_id", "line"])
            .fk("job_id", "inps_feed_job", "id"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in tables() {
            t.create(manager).await?;
        }
        // A change of state names the application: its case is found by it.
        manager
            .create_index(
                Index::create().name("ix_case_file_application_id").table("case_file").col("application_id").to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_case_file_application_id").table("case_file").to_owned()).await?;
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        Ok(())
    }
}
