//! Table `audit_event`.
#[allow(unused_imports)]
use crate::enums::*;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default, serde::Deserialize)]
#[serde(default)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub request_id: Option<String>,
    /// The GraphQL operation the request ran (its name), when it had one.
    pub operation: Option<String>,
    pub actor_kind: ActorKind,
    pub operator_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    pub api_client_id: Option<Uuid>,
    pub role: Option<Role>,
    pub ambito_id: Option<Uuid>,
    pub entity: String,
    pub entity_id: Option<String>,
    pub action: AuditAction,
    /// Before/after of the changed fields, JSON; never set for reads.
    pub changes: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
