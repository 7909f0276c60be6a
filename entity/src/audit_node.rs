//! Table `audit_node`: the root of the perfect subtree of the audit tree at
//! `height` (≥ 8) and `idx` (leaves `idx·2^height` to `(idx+1)·2^height`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default)]
#[sea_orm(table_name = "audit_node")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub height: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    pub hash: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
