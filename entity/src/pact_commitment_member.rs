//! Table `pact_commitment_member`: other members involved in a commitment.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "pact_commitment_member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub commitment_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
