//! Table `report`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "report")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub case_id: Option<Uuid>,
    pub residency_check_id: Option<Uuid>,
    pub puc_assignment_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub kind: ReportKind,
    pub state: ReportState,
    pub fact_date: Date,
    pub ascertained_on: Date,
    pub description: String,
    pub created_by: Option<Uuid>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_comment: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub inps_ack: Option<String>,
    pub rectification_of: Option<Uuid>,
    /// A request to annul `rectification_of` (withdraw it), not to rectify it.
    pub annuls: bool,
    /// For a failed residency check: why its outcome contradicts the computed requirement.
    pub override_reason: Option<ResidencyOverrideReason>,
    pub version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
