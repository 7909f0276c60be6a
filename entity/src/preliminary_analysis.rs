//! Table `preliminary_analysis`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "preliminary_analysis")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub case_id: Uuid,
    pub meeting_id: Option<Uuid>,
    pub state: AnalysisState,
    pub outcome: Option<AnalysisOutcome>,
    pub needs_notes: Option<String>,
    pub resources_notes: Option<String>,
    /// Health notes: special-category data.
    pub health_notes: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub completed_by: Option<Uuid>,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
