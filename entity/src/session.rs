//! Table `session`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the bearer token; the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub operator_id: Uuid,
    /// The active profile; None until an operator with several profiles chooses one.
    pub profile_id: Option<Uuid>,
    pub auth_method: AuthMethod,
    /// SPID level (2 or 3) or 0 for the dev login.
    pub auth_level: i16,
    /// SPID logins: the IdP and the NameID it gave (with its qualifier), for single logout.
    pub idp_entity_id: Option<String>,
    pub name_id: Option<String>,
    pub name_id_qualifier: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
