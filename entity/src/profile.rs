//! Table `profile`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "profile")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub operator_id: Uuid,
    pub role: Role,
    /// None only for national roles (ministry_admin, national analysts).
    pub ambito_id: Option<Uuid>,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    /// Codes of `FundingSource`, comma-separated in code order; None for roles paid by nobody in particular (national, administrators).
    pub funding_sources: Option<String>,
    pub status: ProfileStatus,
    pub assigned_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
