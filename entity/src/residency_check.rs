//! Table `residency_check`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "residency_check")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: ResidencyCheckKind,
    pub household_id: Uuid,
    /// The member whose requirement is checked.
    pub member_id: Uuid,
    pub application_id: Option<Uuid>,
    /// Comune of residence named in the application: it finalises the outcome.
    pub owning_comune_istat: String,
    /// Comune that holds the check now (differs after forwarding).
    pub current_comune_istat: String,
    /// Ambito of the current Comune.
    pub ambito_id: Uuid,
    pub officer_id: Option<Uuid>,
    pub state: ResidencyCheckState,
    pub due_on: Date,
    pub forwarded_at: Option<DateTimeUtc>,
    pub outcome: Option<ResidencyOutcome>,
    pub finalised_at: Option<DateTimeUtc>,
    /// Why the outcome contradicts the requirement computed from the periods.
    pub override_reason: Option<ResidencyOverrideReason>,
    /// The officer's account of that reason.
    pub override_note: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
