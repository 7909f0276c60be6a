//! Mutations of the disadvantage validation.

use async_graphql::{Context, InputObject, Object, ID};
use entity::disadvantage_check;

use super::lists::{page_of, sort, DateRange};
use crate::{
    api::views::DisadvantageCheckView,
    authz::gateway::Direction,
    disadvantage::lists,
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::DisadvantageStateView,
        node::by_id,
    },
    workflow::Acting,
};

/// Input of `decideDisadvantageCheck`.
#[derive(InputObject)]
pub struct DecideDisadvantageCheckInput {
    /// The request.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
    /// True: confirmed; false: not confirmed (notes required); omitted: taken into verification.
    pub confirmed: Option<bool>,
    /// The validator's notes.
    pub notes: Option<String>,
}

#[derive(Default)]
pub struct DisadvantageMutation;

#[Object]
impl DisadvantageMutation {
    /// Responsabile condizione di svantaggio: takes a request into verification or
    /// decides it, within 60 days of receipt (afterwards it counts as confirmed).
    #[graphql(visible = "crate::graphql::visibility::updates_disadvantage_check")]
    async fn decide_disadvantage_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check, the version read, the decision and its notes.")]
        input: DecideDisadvantageCheckInput,
    ) -> GqlResult<DisadvantageCheckView> {
        let gw = gateway(ctx)?;
        let a = Acting {
            gw,
            request_id: ctx.data_opt::<crate::graphql::RequestId>().map(|r| r.0.clone()),
            operation: ctx.data_opt::<crate::graphql::OperationName>().map(|o| o.0.clone()),
        };
        let id = uuid_arg("input.checkId", "DisadvantageCheck", &input.check_id)?;
        crate::disadvantage::service::decide(&a, id, input.version, input.confirmed, input.notes).await.gql()?;
        Ok(DisadvantageCheckView(
            by_id::<disadvantage_check::Entity>(gw, disadvantage_check::Column::Id, id, "DisadvantageCheck")
                .await
                .gql()?,
        ))
    }
}

/// Filters of `disadvantageChecks`.
#[derive(InputObject, Default)]
pub struct DisadvantageCheckFilter {
    /// Only requests in these stored states.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_state")]
    pub state: Option<Vec<DisadvantageStateView>>,
    /// Only requests received in this range.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_received")]
    pub received: Option<DateRange>,
    /// Only requests past the 60-day deadline without a decision (counted as
    /// confirmed), or, with false, the others.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_expired")]
    pub expired_by_silence: Option<bool>,
}

#[derive(Default)]
pub struct DisadvantageQuery;

#[Object]
impl DisadvantageQuery {
    /// Disadvantage validation requests the viewer may see, oldest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_disadvantage_check"
    )]
    async fn disadvantage_checks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<DisadvantageCheckFilter>,
    ) -> GqlResult<Connection<DisadvantageCheckView>> {
        let f = check_filter(filter);
        page_of(ctx, |gw| lists::check_list(&gw.authz, f), &check_order(), (first, after), DisadvantageCheckView).await
    }

    /// One disadvantage validation request by id.
    #[graphql(visible = "crate::graphql::visibility::reads_disadvantage_check")]
    async fn disadvantage_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<DisadvantageCheckView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "DisadvantageCheck", &id)?;
        Ok(Some(DisadvantageCheckView(
            by_id::<disadvantage_check::Entity>(gw, disadvantage_check::Column::Id, id, "DisadvantageCheck")
                .await
                .gql()?,
        )))
    }
}

/// The filter of the disadvantage check list, as the domain reads it.
fn check_filter(filter: Option<DisadvantageCheckFilter>) -> lists::DisadvantageCheckFilter {
    let f = filter.unwrap_or_default();
    lists::DisadvantageCheckFilter {
        states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
        received: f.received.map(Into::into),
        expired_by_silence: f.expired_by_silence,
    }
}

/// The order of the disadvantage check list: by receipt.
fn check_order() -> crate::authz::gateway::SortKey<disadvantage_check::Entity> {
    sort!(disadvantage_check, ReceivedOn, Direction::Asc, |r: &disadvantage_check::Model| r.received_on)
}

/// `disadvantageChecks`, compiled (see `api::compiled`).
pub(super) fn compiled_disadvantage_checks(
    pl: &mut super::compiled::Planner<'_>,
    root: &super::compiled::Collected<'_>,
) -> super::compiled::RootPlan {
    super::compiled::list::<DisadvantageCheckView, DisadvantageCheckFilter>(
        pl,
        root,
        |f, gw| lists::check_list(&gw.authz, check_filter(f)),
        check_order(),
    )
}
