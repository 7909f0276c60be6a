//! Table `convention`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "convention")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub comune_istat: String,
    pub ambito_id: Uuid,
    pub kind: ConventionKind,
    pub signed_on: Date,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub document_sha256: Option<String>,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_at: DateTimeUtc,
    pub version: i32,
    /// Size in bytes of the signed document.
    pub document_size: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
