//! Table `case_transfer`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "case_transfer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub state: TransferState,
    pub reason: TransferReason,
    pub from_ambito_id: Uuid,
    pub from_comune_istat: String,
    pub to_ambito_id: Uuid,
    pub to_comune_istat: String,
    /// The minimal card: the household's size, the case's stage and dates when requested.
    pub household_size: i32,
    pub case_state: CaseState,
    pub pad_date: Date,
    pub first_meeting_on: Option<Date>,
    /// The legal basis recorded for health notes and disadvantage details to travel.
    pub legal_basis: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTimeUtc,
    /// The receiving Ambito decides by this day; then the transfer escalates.
    pub due_on: Date,
    pub escalated_at: Option<DateTimeUtc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub rejection_reason: Option<TransferRejectionReason>,
    pub decision_note: Option<String>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
