//! Table `sealed_field`: content of a case that did not travel with its
//! transfer (no legal basis recorded), kept apart and read by no role.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "sealed_field")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub transfer_id: Uuid,
    /// The table of the row it was taken from.
    pub entity: String,
    pub entity_id: Uuid,
    /// The field, as `policies/travel.csv` names it (`PreliminaryAnalysis.healthNotes`).
    pub field: String,
    pub value: String,
    pub sealed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
