//! Table `meeting`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "meeting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub case_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
    /// The operator who holds the meeting.
    pub operator_id: Option<Uuid>,
    pub kind: MeetingKind,
    pub state: MeetingState,
    pub scheduled_at: DateTimeUtc,
    pub duration_minutes: i32,
    pub place: String,
    pub convocation_channel: Option<ConvocationChannel>,
    pub convocation_ref: Option<String>,
    pub attendees: Option<String>,
    pub justification: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub recorded_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
