//! Table `case_referral`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "case_referral")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// The case's Ambito and Comune: the referral stays with them.
    pub ambito_id: Uuid,
    pub comune_istat: String,
    /// The member referred (the household as a whole when None).
    pub member_id: Option<Uuid>,
    pub target: ReferralTarget,
    /// The service, by name (a CPI, a Centro di salute mentale, a SerD...).
    /// Null once sealed (a transfer accepted without a legal basis).
    pub service: Option<String>,
    pub reason: Option<String>,
    /// The case's ADI pathway when referred (what a CPI works from).
    pub pathway_type: Option<PathwayType>,
    pub state: ReferralState,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTimeUtc,
    pub taken_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub outcome_note: Option<String>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
