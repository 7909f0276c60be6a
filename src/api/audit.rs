//! Root field of the audit trail: `auditEvents`.

use async_graphql::{Context, InputObject, Object};
use entity::audit_event;

use super::{
    lists::{page_of, sort},
    views::AuditEventView,
};
use crate::graphql::scalars::Timestamp;
use crate::{
    audit::lists, authz::gateway::Direction, error::GqlResult, graphql::connection::Connection,
    graphql::enums::AuditActionView,
};

/// Filters of `auditEvents`.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Only events about this entity (e.g. `case_file`).
    pub entity: Option<String>,
    /// Only events about this entity id.
    pub entity_id: Option<String>,
    /// Only events of this action.
    pub action: Option<AuditActionView>,
    /// Only events from this instant.
    pub since: Option<Timestamp>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail the viewer may read (the Ambito administrator: its Ambito), newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_audit_event"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<AuditEventFilter>,
    ) -> GqlResult<Connection<AuditEventView>> {
        let f = filter.unwrap_or_default();
        let f = lists::AuditEventFilter {
            entity: f.entity,
            entity_id: f.entity_id,
            action: f.action.map(Into::into),
            since: f.since.map(Into::into),
        };
        let sort = sort!(audit_event, OccurredAt, Direction::Desc, |r: &audit_event::Model| r.occurred_at);
        page_of(ctx, |_| Ok(lists::event_list(f)), &sort, (first, after), AuditEventView).await
    }
}
