//! Table `case_file`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "case_file")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub household_id: Uuid,
    pub application_id: Uuid,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub state: CaseState,
    pub case_manager_id: Option<Uuid>,
    pub assigned_at: Option<DateTimeUtc>,
    pub assigned_by: Option<Uuid>,
    pub pad_date: Date,
    pub first_meeting_on: Option<Date>,
    pub last_meeting_on: Option<Date>,
    pub pathway_type: Option<PathwayType>,
    /// Optimistic-concurrency version, bumped by every change.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
