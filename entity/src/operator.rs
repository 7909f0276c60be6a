//! Table `operator`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "operator")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub fiscal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: OperatorStatus,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The Ambito whose administrator manages the operator; None for the Ministry's own.
    pub ambito_id: Option<Uuid>,
    /// Optimistic-concurrency version, moved by every change of accreditation.
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
