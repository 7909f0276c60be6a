//! Table `comune`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "comune")]
pub struct Model {
    /// ISTAT code, six digits.
    #[sea_orm(primary_key, auto_increment = false)]
    pub istat_code: String,
    /// Cadastral (Belfiore) code, used in codici fiscali.
    #[sea_orm(unique)]
    pub belfiore_code: String,
    pub name: String,
    pub province: String,
    pub ambito_id: Uuid,
    pub social_services_delegated: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
