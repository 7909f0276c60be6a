//! Table `api_client`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "api_client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub role: Role,
    pub ambito_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// First characters of the key, to recognise it in listings.
    pub key_prefix: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// Points of operation cost the client may spend per hour; None: the
    /// deployment's default (`GEPI_API_QUOTA_POINTS_PER_HOUR`).
    pub quota_points_per_hour: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
