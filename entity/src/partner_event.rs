//! Table `partner_event`: the partners' change feed (an outbox), written in the
//! transaction of the change it reports. `seq` orders the events in commit
//! order: one more than the largest so far, taken while the writers of events
//! take turns.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "partner_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub audience: PartnerAudience,
    pub kind: PartnerEventKind,
    pub seq: i64,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub report_id: Option<Uuid>,
    pub residency_check_id: Option<Uuid>,
    pub disadvantage_check_id: Option<Uuid>,
    pub pact_id: Option<Uuid>,
    pub puc_assignment_id: Option<Uuid>,
    pub referral_id: Option<Uuid>,
    pub application_protocol: Option<String>,
    pub fiscal_code: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
