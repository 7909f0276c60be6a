//! Table `saml_logout_request`: the LogoutRequests an IdP sent us, kept for
//! as long as their IssueInstant is inside the accepted window, so that the
//! same request is honoured at most once (on any instance).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "saml_logout_request")]
pub struct Model {
    /// The IdP that sent it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idp_entity_id: String,
    /// The LogoutRequest ID, unique per IdP.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// When its IssueInstant leaves the window: after that it is refused anyway.
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
