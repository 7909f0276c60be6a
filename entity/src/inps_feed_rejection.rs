//! Table `inps_feed_rejection`: a row of a feed that was not applied, with a
//! stable code, the field and why (never the row's content).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase")]
#[sea_orm(table_name = "inps_feed_rejection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    #[serde(skip)]
    pub job_id: Uuid,
    /// Line of the file (the header is line 1).
    #[sea_orm(primary_key, auto_increment = false)]
    pub line: i64,
    pub seq: Option<i64>,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
