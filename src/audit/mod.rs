//! The audit trail: append-only records of who did what to which entity, when,
//! under which request and in which Ambito. There is no update or delete path
//! here, and the database refuses both (see the migration `audit_append_only`).
//! Entries never carry personal data beyond ids; changes hold the before/after of
//! the changed fields.

pub mod access;
pub mod lists;
pub mod log;
pub mod reads;

use chrono::{SubsecRound, Utc};
use entity::{
    audit_event,
    enums::{ActorKind, AuditAction, Role},
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::{
    error::AppError,
    principal::{Actor, Principal},
};

/// Who acts, and under which request: the fixed part of every entry.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor_kind: ActorKind,
    pub operator_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    pub api_client_id: Option<Uuid>,
    pub role: Option<Role>,
    pub ambito_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// The name of the GraphQL operation the request ran, when it had one:
    /// why the thing was done, as the per-person access report shows it.
    pub operation: Option<String>,
}

impl AuditContext {
    /// Nobody in particular: the service itself (CLI tasks, IdP-initiated logout),
    /// or an anonymous caller (a refused login).
    pub fn unattributed(actor_kind: ActorKind, request_id: Option<String>) -> Self {
        AuditContext {
            actor_kind,
            operator_id: None,
            profile_id: None,
            api_client_id: None,
            role: None,
            ambito_id: None,
            request_id,
            operation: None,
        }
    }

    /// The same context, under the request's operation `operation`.
    pub fn during(mut self, operation: Option<String>) -> Self {
        self.operation = operation;
        self
    }

    pub fn of(principal: &Principal, request_id: Option<String>) -> Self {
        let (operator_id, profile_id, api_client_id, actor_kind) = match principal.actor {
            Actor::Operator { operator_id, profile_id, .. } => {
                (Some(operator_id), Some(profile_id), None, ActorKind::Operator)
            }
            Actor::ApiClient { client_id } => (None, None, Some(client_id), ActorKind::ApiClient),
        };
        AuditContext {
            actor_kind,
            operator_id,
            profile_id,
            api_client_id,
            role: Some(principal.role),
            ambito_id: principal.ambito_id,
            request_id,
            operation: None,
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub entity: &'static str,
    pub entity_id: Option<String>,
    pub action: AuditAction,
    /// Ambito the entity belongs to, when it differs from the actor's.
    pub ambito_id: Option<Uuid>,
    pub changes: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(entity: &'static str, entity_id: impl ToString, action: AuditAction) -> Self {
        AuditEntry { entity, entity_id: Some(entity_id.to_string()), action, ambito_id: None, changes: None }
    }
}

/// Appends entries in one statement; call it inside the transaction of the change.
pub async fn record<C: ConnectionTrait>(db: &C, ctx: &AuditContext, entries: Vec<AuditEntry>) -> Result<(), AppError> {
    if entries.is_empty() {
        return Ok(());
    }
    // Microseconds: what both databases keep, and what the leaf hashes.
    let now = Utc::now().trunc_subsecs(6);
    let n = entries.len();
    let rows = entries.into_iter().map(|e| audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(now),
        request_id: Set(ctx.request_id.clone()),
        operation: Set(ctx.operation.clone()),
        actor_kind: Set(ctx.actor_kind),
        operator_id: Set(ctx.operator_id),
        profile_id: Set(ctx.profile_id),
        api_client_id: Set(ctx.api_client_id),
        role: Set(ctx.role),
        ambito_id: Set(e.ambito_id.or(ctx.ambito_id)),
        entity: Set(e.entity.to_string()),
        entity_id: Set(e.entity_id),
        action: Set(e.action),
        changes: Set(e.changes.map(|c| c.to_string())),
    });
    audit_event::Entity::insert_many(rows).exec_without_returning(db).await?;
    crate::metrics::audit_events_written(n);
    Ok(())
}
