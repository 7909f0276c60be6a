//! Table `inps_feed_record`: every record of the INPS feed applied, by INPS's
//! feed sequence number.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "inps_feed_record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub kind: String,
    pub protocol: String,
    /// SHA-256 of the record's content (keys sorted): the same number sent
    /// again with this content changes nothing; with other content, it is refused.
    pub sha256: String,
    pub job_id: Uuid,
    /// Whether applying it changed anything.
    pub changed: bool,
    pub applied_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
