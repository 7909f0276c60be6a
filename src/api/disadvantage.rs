//! Mutations of the disadvantage validation.

use async_graphql::{Context, InputObject, Object, ID};
use entity::disadvantage_check;

use crate::{
    api::views::DisadvantageCheckView,
    error::{GqlResult, ResultExt},
    graphql::{
        context::{gateway, uuid_arg},
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
        input: DecideDisadvantageCheckInput,
    ) -> GqlResult<DisadvantageCheckView> {
        let gw = gateway(ctx)?;
        let a = Acting { gw, request_id: ctx.data_opt::<crate::graphql::RequestId>().map(|r| r.0.clone()) };
        let id = uuid_arg("input.checkId", "DisadvantageCheck", &input.check_id)?;
        crate::disadvantage::service::decide(&a, id, input.version, input.confirmed, input.notes).await.gql()?;
        Ok(DisadvantageCheckView(
            by_id::<disadvantage_check::Entity>(gw, disadvantage_check::Column::Id, id, "DisadvantageCheck")
                .await
                .gql()?,
        ))
    }
}
