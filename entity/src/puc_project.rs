//! Table `puc_project`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "puc_project")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    /// The Responsabile PUC who manages the project.
    pub manager_id: Option<Uuid>,
    pub title: String,
    pub field: PucField,
    pub description: String,
    pub host_body: String,
    pub site: String,
    pub schedule: String,
    pub weekly_hours: i32,
    pub places_comune: i32,
    pub places_cpi: i32,
    pub places_volunteer: i32,
    pub starts_on: Date,
    pub ends_on: Date,
    pub min_duration_months: i32,
    pub tutor: Option<String>,
    pub state: PucProjectState,
    pub version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
