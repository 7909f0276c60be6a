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
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
    ) -> GqlResult<Connection<ReportView>> {
        page_of(ctx, all, &report_order(), (first, after), ReportView).await
    }
}

/// The order of the segnalazioni: newest first.
fn report_order() -> crate::authz::gateway::SortKey<report::Entity> {
    sort!(report, CreatedAt, Direction::Desc, |r: &report::Model| r.created_at)
}

/// `reports`, compiled (see `api::compiled`). The list has no filter.
pub(super) fn compiled_reports(
    pl: &mut super::compiled::Planner<'_>,
    root: &super::compiled::Collected<'_>,
) -> super::compiled::RootPlan {
    super::compiled::only_arguments(root, &["first", "after"])?;
    super::compiled::list::<ReportView, bool>(pl, root, |_, gw| all(gw), report_order())
}
