//! Table `support`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "support")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// The pact version the support belongs to; None when activated before the pact.
    pub pact_id: Option<Uuid>,
    pub kind: SupportKind,
    pub provider: String,
    pub starts_on: Option<Date>,
    pub ends_on: Option<Date>,
    pub status: SupportStatus,
    pub activated_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
