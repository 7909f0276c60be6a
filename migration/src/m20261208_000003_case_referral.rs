//! Referrals of a case to a Centro per l'impiego or a specialist service
//! (domain spec §1.8: the routing of the Analisi preliminare): the case stays
//! with its Ambito and case manager, and the service receives a declared
//! projection (for a CPI, through its change feed: the event names the
//! referral, with the member's codice fiscale).

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![TableDef::new("case_referral")
        .cols([
            uuid("id"),
            uuid("case_id"),
            uuid("ambito_id"),
            string_len("comune_istat", 6),
            uuid_null("member_id"),
            string_len("target", 40),
            // Null once sealed (a transfer accepted without a legal basis).
            string_len_null("service", 200),
            text_null("reason"),
            string_len_null("pathway_type", 40),
            string_len("state", 40),
            uuid_null("requested_by"),
            timestamp_with_time_zone("requested_at"),
            timestamp_with_time_zone_null("taken_at"),
            timestamp_with_time_zone_null("closed_at"),
            text_null("outcome_note"),
            integer("version"),
        ])
        .pk(&["id"])
        .fk("case_id", "case_file", "id")
        .fk("ambito_id", "ambito", "id")
        .fk("comune_istat", "comune", "istat_code")
        .fk("member_id", "member", "id")
        .idx(&["case_id"])
        .idx(&["ambito_id", "requested_at"])
        .idx(&["target", "requested_at"])]
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
        // The event a CPI collects names the referral.
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE partner_event ADD COLUMN referral_id uuid REFERENCES case_referral (id)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE partner_event DROP COLUMN referral_id").await?;
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        Ok(())
    }
}
