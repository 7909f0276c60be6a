//! Table `legal_hold`: a hold on a case, a household or a person (by codice
//! fiscale) that blocks every purge and anonymisation of what it covers until
//! it is released.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default)]
#[sea_orm(table_name = "legal_hold")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `CASE`, `HOUSEHOLD` or `PERSON`.
    pub scope: String,
    pub case_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    pub fiscal_code: Option<String>,
    /// Who asked for it (a court, the Garante, the Ambito's legal office).
    pub holder: String,
    pub legal_basis: String,
    pub placed_at: DateTimeUtc,
    pub released_at: Option<DateTimeUtc>,
    pub release_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
