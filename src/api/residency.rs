//! Mutations of residency checks.

use async_graphql::{Context, InputObject, Object, ID};
use entity::residency_check;

use crate::residency::lists;

use super::lists::{page_of, sort};
use crate::graphql::scalars::Date;
use crate::{
    api::views::ResidencyCheckView,
    authz::gateway::Direction,
    error::{AppError, GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::{ResidencyCheckStateView, ResidencyOutcomeView, ResidencyOverrideReasonView},
        node::by_id,
    },
};

/// Input of `assignResidencyCheck`.
#[derive(InputObject)]
pub struct AssignResidencyCheckInput {
    /// The check.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
    /// The officer (an operator id) who takes it.
    pub officer_id: ID,
}

/// A residence period from the registry.
#[derive(InputObject)]
pub struct ResidencePeriodInput {
    /// Comune of residence (ISTAT code).
    pub comune_istat: String,
    /// From.
    pub from: Date,
    /// To; omitted while the residence continues.
    pub to: Option<Date>,
}

/// Input of `recordResidencyPeriods`.
#[derive(InputObject)]
pub struct RecordResidencyPeriodsInput {
    /// The check.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
    /// Periods to add (they may not overlap the recorded ones).
    pub periods: Vec<ResidencePeriodInput>,
}

/// Input of `forwardResidencyCheck`.
#[derive(InputObject)]
pub struct ForwardResidencyCheckInput {
    /// The check.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
    /// The previous Comune of residence (ISTAT code); omitted: the Comune of birth.
    pub to_comune: Option<String>,
}

/// Input of `finaliseResidencyCheck`.
#[derive(InputObject)]
pub struct FinaliseResidencyCheckInput {
    /// The check.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
    /// The outcome.
    pub outcome: ResidencyOutcomeView,
    /// Required when the outcome contradicts `requirementMet` (a positive outcome on periods that do not
    /// meet the requirement, or a negative one on periods that do); refused otherwise.
    pub override_reason: Option<ResidencyOverrideReasonView>,
    /// The account of that reason (required with it).
    pub override_note: Option<String>,
}

/// A check and its version, for actions that need nothing else (`resumeResidencyCheck`).
#[derive(InputObject)]
pub struct ResidencyCheckVersionInput {
    /// The check.
    pub check_id: ID,
    /// Its version.
    pub version: i32,
}

async fn done(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<ResidencyCheckView> {
    Ok(ResidencyCheckView(
        by_id::<residency_check::Entity>(gateway(ctx)?, residency_check::Column::Id, id, "ResidencyCheck")
            .await
            .gql()?,
    ))
}

use crate::graphql::context::acting;

#[derive(Default)]
pub struct ResidencyMutation;

#[Object]
impl ResidencyMutation {
    /// Coordinatore per i controlli anagrafici: assigns a check of its Comuni to an officer.
    #[graphql(visible = "crate::graphql::visibility::assigns_residency_check")]
    async fn assign_residency_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check, the version read and the officer it goes to.")] input: AssignResidencyCheckInput,
    ) -> GqlResult<ResidencyCheckView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.checkId", "ResidencyCheck", &input.check_id)?;
        let officer = uuid_arg("input.officerId", "Operator", &input.officer_id)?;
        crate::residency::service::assign(&a, id, input.version, officer).await.gql()?;
        done(ctx, id).await
    }

    /// Responsabile per i controlli anagrafici: records residence periods.
    #[graphql(visible = "crate::graphql::visibility::updates_residency_check")]
    async fn record_residency_periods(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check, the version read and the residence periods found in the registry.")]
        input: RecordResidencyPeriodsInput,
    ) -> GqlResult<ResidencyCheckView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.checkId", "ResidencyCheck", &input.check_id)?;
        let periods = input
            .periods
            .into_iter()
            .map(|p| crate::residency::service::Period {
                comune_istat: p.comune_istat,
                from: p.from.0,
                to: p.to.map(Into::into),
            })
            .collect();
        crate::residency::service::record_periods(&a, id, input.version, periods).await.gql()?;
        done(ctx, id).await
    }

    /// Responsabile: forwards the check to the previous Comune (or the Comune of
    /// birth), which takes it over with its own deadline. The result is the check as
    /// the sender still sees it: usually not at all (`NOT_FOUND`), since it left its Comuni.
    #[graphql(visible = "crate::graphql::visibility::updates_residency_check")]
    async fn forward_residency_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check, the version read and the Comune it goes to.")] input: ForwardResidencyCheckInput,
    ) -> GqlResult<Option<ResidencyCheckView>> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.checkId", "ResidencyCheck", &input.check_id)?;
        crate::residency::service::forward(&a, id, input.version, input.to_comune).await.gql()?;
        let gw = gateway(ctx)?;
        Ok(gw.by_id::<residency_check::Entity>(residency_check::Column::Id, id).await.gql()?.map(ResidencyCheckView))
    }

    /// Responsabile of the Comune of residence: finalises the outcome.
    #[graphql(visible = "crate::graphql::visibility::updates_residency_check")]
    async fn finalise_residency_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check, the version read and the outcome.")] input: FinaliseResidencyCheckInput,
    ) -> GqlResult<ResidencyCheckView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.checkId", "ResidencyCheck", &input.check_id)?;
        let overriding = match (input.override_reason, input.override_note) {
            (Some(reason), Some(note)) => Some(crate::residency::service::Override { reason: reason.into(), note }),
            (Some(_), None) => {
                return Err(AppError::validation("input.overrideNote", "give the account of the override reason")).gql()
            }
            (None, Some(_)) => {
                return Err(AppError::validation("input.overrideReason", "an override note needs its coded reason"))
                    .gql()
            }
            (None, None) => None,
        };
        crate::residency::service::finalise(&a, id, input.version, input.outcome.into(), overriding).await.gql()?;
        done(ctx, id).await
    }

    /// Responsabile: takes back into work a check assigned to it again after it came
    /// back from the Comuni it was forwarded to, on the periods already recorded
    /// (`ASSEGNATO → IN_LAVORAZIONE`), to forward it further or finalise it.
    #[graphql(visible = "crate::graphql::visibility::updates_residency_check")]
    async fn resume_residency_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The check and the version read.")] input: ResidencyCheckVersionInput,
    ) -> GqlResult<ResidencyCheckView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.checkId", "ResidencyCheck", &input.check_id)?;
        crate::residency::service::resume(&a, id, input.version).await.gql()?;
        done(ctx, id).await
    }
}

/// Filters of `residencyChecks`.
#[derive(InputObject, Default)]
pub struct ResidencyCheckFilter {
    /// Only checks in these states.
    #[graphql(visible = "crate::graphql::visibility::residency_check_state")]
    pub state: Option<Vec<ResidencyCheckStateView>>,
    /// Only checks past their deadline without an outcome.
    #[graphql(visible = "crate::graphql::visibility::residency_check_overdue")]
    pub overdue: Option<bool>,
    /// Only open checks whose officer no longer holds an officer profile in
    /// force (revoked, suspended, expired): work to reassign (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::residency_check_unassigned")]
    pub to_reassign: Option<bool>,
}

#[derive(Default)]
pub struct ResidencyQuery;

#[Object]
impl ResidencyQuery {
    /// Residency checks the viewer may see, by deadline.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_residency_check"
    )]
    async fn residency_checks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<ResidencyCheckFilter>,
    ) -> GqlResult<Connection<ResidencyCheckView>> {
        let f = check_filter(filter);
        page_of(ctx, |gw| lists::check_list(&gw.authz, f), &check_order(), (first, after), ResidencyCheckView).await
    }

    /// One residency check by id.
    #[graphql(visible = "crate::graphql::visibility::reads_residency_check")]
    async fn residency_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<ResidencyCheckView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "ResidencyCheck", &id)?;
        Ok(Some(ResidencyCheckView(
            by_id::<residency_check::Entity>(gw, residency_check::Column::Id, id, "ResidencyCheck").await.gql()?,
        )))
    }
}

/// The filter of the residency check list, as the domain reads it.
fn check_filter(filter: Option<ResidencyCheckFilter>) -> lists::ResidencyCheckFilter {
    let f = filter.unwrap_or_default();
    lists::ResidencyCheckFilter {
        states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
        overdue: f.overdue,
        to_reassign: f.to_reassign,
    }
}

/// The order of the residency check list: by due date.
fn check_order() -> crate::authz::gateway::SortKey<residency_check::Entity> {
    sort!(residency_check, DueOn, Direction::Asc, |r: &residency_check::Model| r.due_on)
}

/// `residencyChecks`, compiled (see `api::compiled`).
pub(super) fn compiled_residency_checks(
    pl: &mut super::compiled::Planner<'_>,
    root: &super::compiled::Collected<'_>,
) -> super::compiled::RootPlan {
    super::compiled::list::<ResidencyCheckView, ResidencyCheckFilter>(
        pl,
        root,
        |f, gw| lists::check_list(&gw.authz, check_filter(f)),
        check_order(),
    )
}
