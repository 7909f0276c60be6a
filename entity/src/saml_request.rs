//! Table `saml_request`: SPID AuthnRequests in flight, consumed once by the ACS.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "saml_request")]
pub struct Model {
    /// The AuthnRequest ID, echoed by the Response as InResponseTo.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the one-time RelayState handle.
    #[sea_orm(unique)]
    pub relay_state_hash: String,
    pub idp_entity_id: String,
    /// The AuthnContextClassRef asked for (minimum).
    pub requested_level: String,
    pub issue_instant: DateTimeUtc,
    /// Same-origin path the browser goes to after the login.
    pub next_path: String,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
