//! The partners' change feed: one row per event a partner (INPS, the Centri per
//! l'impiego) collects, written in the transaction of the change it reports
//! (an outbox). Partners read it in `seq` order: each event takes the next
//! number from the one row of `partner_event_counter`, whose row lock the
//! writers of events hold until they commit, so that `seq` follows the order
//! of the commits (and a purge of old events never gives a number again).

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![
        TableDef::new("partner_event_counter").cols([integer("id"), big_integer("n")]).pk(&["id"]),
        TableDef::new("partner_event")
            .cols([
                uuid("id"),
                string_len("audience", 40),
                string_len("kind", 40),
                big_integer("seq"),
                uuid("ambito_id"),
                string_len("comune_istat", 6),
                uuid_null("report_id"),
                uuid_null("residency_check_id"),
                uuid_null("disadvantage_check_id"),
                uuid_null("pact_id"),
                uuid_null("puc_assignment_id"),
                string_len_null("application_protocol", 40),
                string_len_null("fiscal_code", 16),
                timestamp_with_time_zone("occurred_at"),
            ])
            .pk(&["id"])
            .fk("ambito_id", "ambito", "id")
            .fk("comune_istat", "comune", "istat_code")
            .fk("report_id", "report", "id")
            .fk("residency_check_id", "residency_check", "id")
            .fk("disadvantage_check_id", "disadvantage_check", "id")
            .fk("pact_id", "pact", "id")
            .fk("puc_assignment_id", "puc_assignment", "id")
            .uniq(&["seq"])
            .idx(&["audience", "seq"])
            .idx(&["audience", "ambito_id", "seq"])
            .idx(&["occurred_at"]),
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
        let first = Query::insert()
            .into_table("partner_event_counter")
            .columns(["id", "n"])
            .values_panic([1.into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(first).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        Ok(())
    }
}
