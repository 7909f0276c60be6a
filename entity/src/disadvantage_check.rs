//! Table `disadvantage_check`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "disadvantage_check")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Request id assigned by INPS.
    #[sea_orm(unique)]
    pub inps_request_id: String,
    pub household_id: Uuid,
    pub member_id: Uuid,
    pub ambito_id: Uuid,
    pub certifying_comune_istat: String,
    /// Declared category: special-category data.
    pub category: DisadvantageCategory,
    pub certificate_protocol: Option<String>,
    pub certificate_from: Option<Date>,
    pub certificate_to: Option<Date>,
    pub received_on: Date,
    pub state: DisadvantageState,
    pub notes: Option<String>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    pub sent_to_inps_at: Option<DateTimeUtc>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
