//! Table `pact_commitment`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "pact_commitment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pact_id: Uuid,
    pub description: String,
    /// The member bound by the commitment (for whom it is a conditionality).
    pub obligated_member_id: Option<Uuid>,
    pub due_on: Option<Date>,
    pub status: CommitmentStatus,
    pub is_conditionality: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
