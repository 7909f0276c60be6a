//! Table `member`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub household_id: Uuid,
    pub fiscal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Date,
    /// Belfiore code of the Comune (or foreign state) of birth.
    pub birth_place_code: String,
    pub sex: Sex,
    pub citizenship: String,
    pub relation: FamilyRelation,
    pub residence_comune_istat: String,
    pub in_equivalence_scale: bool,
    pub obligated_activation: bool,
    pub disabled: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub permit_type: Option<String>,
    pub permit_expiry: Option<Date>,
    /// Months of benefit still to be paid, as last reported by INPS.
    pub residual_benefit_months: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
