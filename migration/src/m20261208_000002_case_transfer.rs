//! Case transfers between Ambiti (and Comuni) when a household moves: the
//! request of the sending coordinator, the minimal card the receiving
//! coordinator decides on (a snapshot taken at the request: household size,
//! stage, dates, never content), the decision with its coded reason, and the
//! escalation to both Ambito administrators when the receiving Ambito stays
//! silent past its deadline; and the content sealed when it moved without the
//! legal basis its class needs.

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn tables() -> Vec<TableDef> {
    vec![
        TableDef::new("case_transfer")
            .cols([
                uuid("id"),
                uuid("case_id"),
                string_len("state", 40),
                string_len("reason", 40),
                uuid("from_ambito_id"),
                string_len("from_comune_istat", 6),
                uuid("to_ambito_id"),
                string_len("to_comune_istat", 6),
                // The minimal card, as the case stood when the transfer was requested.
                integer("household_size"),
                string_len("case_state", 40),
                date("pad_date"),
                date_null("first_meeting_on"),
                // The legal basis under which health notes and disadvantage details travel.
                text_null("legal_basis"),
                uuid_null("requested_by"),
                timestamp_with_time_zone("requested_at"),
                date("due_on"),
                timestamp_with_time_zone_null("escalated_at"),
                uuid_null("decided_by"),
                timestamp_with_time_zone_null("decided_at"),
                string_len_null("rejection_reason", 40),
                text_null("decision_note"),
                integer("version"),
            ])
            .pk(&["id"])
            .fk("case_id", "case_file", "id")
            .fk("from_ambito_id", "ambito", "id")
            .fk("to_ambito_id", "ambito", "id")
            .fk("from_comune_istat", "comune", "istat_code")
            .fk("to_comune_istat", "comune", "istat_code")
            .idx(&["case_id"])
            .idx(&["from_ambito_id", "requested_at"])
            .idx(&["to_ambito_id", "requested_at"])
            .idx(&["state", "due_on"]),
        // Content that did not travel with an accepted transfer (no legal basis
        // recorded, `policies/travel.csv`): taken off its row and kept here,
        // where no role reads it.
        TableDef::new("sealed_field")
            .cols([
                uuid("id"),
                uuid("transfer_id"),
                string_len("entity", 40),
                uuid("entity_id"),
                string_len("field", 80),
                text("value"),
                timestamp_with_time_zone("sealed_at"),
            ])
            .pk(&["id"])
            .fk("transfer_id", "case_transfer", "id")
            .idx(&["entity", "entity_id"]),
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
        // One request awaiting a decision per case, whoever opens it (a
        // coordinator, the INPS feed) and however they race.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX case_transfer_one_pending ON case_transfer (case_id) WHERE state = 'RICHIESTO'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in tables().into_iter().rev() {
            manager.drop_table(Table::drop().table(t.name).to_owned()).await?;
        }
        Ok(())
    }
}
