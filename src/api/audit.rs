//! Root fields of the audit trail: `auditEvents`, and the per-person access report
//! (`exportPersonAccessReport`).

use async_graphql::{Context, InputObject, Object, SimpleObject};
use entity::audit_event;

use super::{
    lists::{page_of, sort},
    views::AuditEventView,
};
use crate::graphql::scalars::Timestamp;
use crate::{
    audit::{
        access::{self, Asker},
        lists,
    },
    authz::{gateway::Direction, Object as Governed, Scope},
    error::{AppError, GqlResult, ResultExt},
    graphql::{connection::Connection, context::acting, enums::AuditActionView},
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

/// The per-person access report, as a download.
#[derive(SimpleObject)]
pub struct PersonAccessReport {
    /// A file name for the download.
    pub filename: String,
    /// The report as JSON: the checkpoint the proofs are against (as signed), and one line per
    /// event (when, who, what, why, the event's leaf and its inclusion proof).
    pub json: String,
    /// The same lines as CSV, one per event.
    pub csv: String,
    /// How many events the report lists.
    pub lines: i32,
}

#[derive(Default)]
pub struct AuditMutation;

#[Object]
impl AuditMutation {
    /// Who accessed a person's data (GDPR art. 15, or the Garante): every event of the viewer's
    /// audit trail about the person with this codice fiscale, their household and its case, with
    /// who, when, what and why, each with its proof against the latest signed checkpoint. Asking
    /// is itself recorded. A codice fiscale with no data in the viewer's Ambito answers as an
    /// unknown one.
    #[graphql(visible = "crate::graphql::visibility::reads_audit_event")]
    async fn export_person_access_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person's codice fiscale.")] fiscal_code: String,
    ) -> GqlResult<PersonAccessReport> {
        let a = acting(ctx)?;
        let principal = &a.gw.authz.principal;
        // An Ambito's trail only: a national reader of the trail, should a role
        // ever be one, would need its own decision on cross-Ambito reports.
        let asker = match a.gw.authz.read_scope(Governed::AuditEvent).gql()? {
            Scope::Ambito => Asker::Ambito(
                principal.ambito_id.ok_or_else(|| AppError::Forbidden("the profile has no Ambito".into())).gql()?,
            ),
            _ => return Err(AppError::Forbidden("the role reads no Ambito's audit trail".into())).gql(),
        };
        let report = access::report(&a.gw.writes, &a.audit_ctx(), asker, &fiscal_code).await.gql()?;
        let json = serde_json::to_string_pretty(&report).map_err(AppError::internal).gql()?;
        Ok(PersonAccessReport {
            filename: format!("gepi-access-report-{}.json", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
            lines: report.lines.len() as i32,
            csv: report.csv(),
            json,
        })
    }
}
