//! Root field of segnalazioni: `reports` (their workflow mutations are the
//! case's: see `api::cases`).

use async_graphql::{Context, Object};
use entity::report;

use super::{
    lists::{all, page_of, sort},
    views::ReportView,
};
use crate::{authz::gateway::Direction, error::GqlResult, graphql::connection::Connection};

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// Segnalazioni the viewer may see, newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_report"
    )]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<ReportView>> {
        let sort = sort!(report, CreatedAt, Direction::Desc, |r: &report::Model| r.created_at);
        page_of(ctx, all, &sort, (first, after), ReportView).await
    }
}
