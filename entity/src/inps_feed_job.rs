//! Table `inps_feed_job`: one import of an INPS feed (from the command line or
//! the bulk endpoint), with its counts.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "inps_feed_job")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// INPS's id of the transmission (the header's `feedId`).
    pub feed_id: String,
    /// `cli` or `api`.
    pub source: String,
    /// The key that sent it, through the bulk endpoint.
    pub api_client_id: Option<Uuid>,
    /// `RUNNING`, `DONE` or `FAILED` (stopped by a server fault: the records
    /// applied so far stay applied, and the feed may be sent again).
    pub state: String,
    pub received: i64,
    pub applied: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub error: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
