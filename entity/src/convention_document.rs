//! Table `convention_document`: the signed PDF of a convention, apart from the
//! convention row so that lists never read it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "convention_document")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub convention_id: Uuid,
    pub content: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
