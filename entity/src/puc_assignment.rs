//! Table `puc_assignment`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "puc_assignment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub member_id: Uuid,
    pub case_id: Option<Uuid>,
    pub source: PlaceSource,
    pub state: PucAssignmentState,
    pub proposed_by: Option<Uuid>,
    pub proposed_at: Option<DateTimeUtc>,
    pub starts_on: Option<Date>,
    pub planned_end_on: Option<Date>,
    pub weekly_hours: i32,
    pub interruption_reason: Option<InterruptionReason>,
    pub interrupted_on: Option<Date>,
    pub inail_ref: Option<String>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
