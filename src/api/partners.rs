//! The partners' change feed: `partnerEvents`, the events meant for the
//! partner's key in commit order (see `outbox`). A partner keeps the
//! `pageInfo.endCursor` of the last page it processed and asks again
//! `after` it: it is given every event at least once, in the same order.

use async_graphql::{Context, Object};
use entity::partner_event;

use super::{
    lists::{all, page_of, sort},
    views::PartnerEventView,
};
use crate::{authz::gateway::Direction, error::GqlResult, graphql::connection::Connection};

#[derive(Default)]
pub struct PartnerQuery;

#[Object]
impl PartnerQuery {
    /// Events of the change feed meant for this partner, oldest first (commit order). Continue with
    /// `after: pageInfo.endCursor`; an event that commits later always comes after the cursor.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_partner_event"
    )]
    async fn partner_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Events per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the last page processed.")]
        after: Option<String>,
    ) -> GqlResult<Connection<PartnerEventView>> {
        page_of(
            ctx,
            all,
            &sort!(partner_event, Seq, Direction::Asc, |r: &partner_event::Model| r.seq),
            (first, after),
            PartnerEventView,
        )
        .await
    }
}
