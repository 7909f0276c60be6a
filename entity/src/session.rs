//! Table `session`.
use sea_orm::entity::prelude::*;
#[allow(unused_imports)]
use crate::enums::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the bearer token; the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub operator_id: Uuid,
    pub profile_id: Uuid,
    pub auth_method: AuthMethod,
    /// SPID level (2) or 0 for the dev login.
    pub auth_level: i16,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
