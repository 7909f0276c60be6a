//! The audit trail as a list: filters turned into conditions. Every field of
//! an entry is public to the roles that read the trail at all.

use chrono::{DateTime, Utc};
use entity::{audit_event, enums::AuditAction};
use sea_orm::{ColumnTrait, Condition};

/// Filters of the audit trail, decoded.
#[derive(Default)]
pub struct AuditEventFilter {
    /// The entity (`case_file`, …).
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
}

/// The entries matching `f`.
pub fn event_list(f: AuditEventFilter) -> Condition {
    let mut c = Condition::all();
    if let Some(e) = f.entity {
        c = c.add(audit_event::Column::Entity.eq(e));
    }
    if let Some(e) = f.entity_id {
        c = c.add(audit_event::Column::EntityId.eq(e));
    }
    if let Some(a) = f.action {
        c = c.add(audit_event::Column::Action.eq(a));
    }
    if let Some(t) = f.since {
        c = c.add(audit_event::Column::OccurredAt.gte(t));
    }
    c
}
