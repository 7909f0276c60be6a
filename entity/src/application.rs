//! Table `application`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "application")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub household_id: Uuid,
    #[sea_orm(unique)]
    pub inps_protocol: String,
    pub measure: Measure,
    pub applicant_fiscal_code: String,
    pub submitted_on: Date,
    pub channel: String,
    pub isee_protocol: Option<String>,
    /// Date the household signed the PAD: the 120-day clock starts here.
    pub pad_signed_on: Option<Date>,
    pub status: ApplicationStatus,
    pub months_paid: i32,
    pub renewal_of: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
