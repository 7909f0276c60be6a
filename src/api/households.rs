//! Root fields of households: `households` and `household(id)`.

use async_graphql::{Context, Object, ID};
use entity::household;

use super::{
    compiled::{self, only_arguments, Collected, Planner, RootPlan},
    lists::{all, page_of, sort},
    views::HouseholdView,
};
use crate::{
    authz::gateway::{Direction, SortKey},
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        node::by_id,
    },
};

#[derive(Default)]
pub struct HouseholdQuery;

#[Object]
impl HouseholdQuery {
    /// Households the viewer may see, oldest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_household"
    )]
    async fn households(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
    ) -> GqlResult<Connection<HouseholdView>> {
        page_of(ctx, all, &household_order(), (first, after), HouseholdView).await
    }

    /// One household by id.
    #[graphql(visible = "crate::graphql::visibility::reads_household")]
    async fn household(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<HouseholdView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "Household", &id)?;
        Ok(Some(HouseholdView(by_id::<household::Entity>(gw, household::Column::Id, id, "Household").await.gql()?)))
    }
}

/// The order of the household list: oldest first.
fn household_order() -> SortKey<household::Entity> {
    sort!(household, CreatedAt, Direction::Asc, |r: &household::Model| r.created_at)
}

/// `households`, compiled (see `api::compiled`). The list has no filter.
pub(super) fn compiled_households(pl: &mut Planner<'_>, root: &Collected<'_>) -> RootPlan {
    only_arguments(root, &["first", "after"])?;
    compiled::list::<HouseholdView, bool>(pl, root, |_, gw| all(gw), household_order())
}
