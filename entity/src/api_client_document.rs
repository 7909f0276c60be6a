//! Table `api_client_document`: the operations an API client registered; a
//! client with any may run only those.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "api_client_document")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: Uuid,
    /// SHA-256 of the document's text, lower-case hex: its id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sha256: String,
    /// Where it came from (the file name), to recognise it in listings.
    pub name: String,
    /// The document, as registered.
    pub document: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
