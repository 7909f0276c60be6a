//! Root field of segnalazioni: `reports`, and INPS's acknowledgement
//! (`acknowledgeReport`); the other mutations of their workflow are the
//! case's: see `api::cases`.

use async_graphql::{Context, InputObject, Object, ID};
use entity::report;

use super::{
    lists::{all, page_of, sort},
    views::ReportView,
};
use crate::{
    authz::gateway::Direction,
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{acting, gateway, uuid_arg},
        node::by_id,
    },
};

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

/// Input of `acknowledgeReport`.
#[derive(InputObject)]
pub struct AcknowledgeReportInput {
    /// The segnalazione, as the change feed named it.
    pub report_id: ID,
    /// INPS's protocol for it: 1 to 40 letters, digits and `-` `/` `.` `_`.
    pub inps_protocol: String,
    /// The version read, to refuse a change made since; without it only the state is checked.
    pub version: Option<i32>,
}

/// Input of `rectifyReport`.
#[derive(InputObject)]
pub struct RectifyReportInput {
    /// The segnalazione already sent.
    pub report_id: ID,
    /// Its version.
    pub version: i32,
    /// Date of the fact, as rectified (not in the future).
    pub fact_date: crate::graphql::scalars::Date,
    /// The facts, as rectified.
    pub description: String,
}

/// Input of `annulReport`.
#[derive(InputObject)]
pub struct AnnulReportInput {
    /// The segnalazione already sent.
    pub report_id: ID,
    /// Its version.
    pub version: i32,
    /// Why it is withdrawn.
    pub reason: String,
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// INPS: records its protocol on a segnalazione it collected from the change feed (`INVIATA` →
    /// `ACQUISITA`). Sending the same protocol again changes nothing; another one is `CONFLICT`.
    #[graphql(visible = "crate::graphql::visibility::updates_report")]
    async fn acknowledge_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segnalazione and INPS's protocol for it.")] input: AcknowledgeReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.reportId", "Report", &input.report_id)?;
        crate::reports::service::acknowledge_report(&a, id, input.version, &input.inps_protocol).await.gql()?;
        Ok(ReportView(by_id::<report::Entity>(gateway(ctx)?, report::Column::Id, id, "Report").await.gql()?))
    }

    /// Rectifies a segnalazione already sent to INPS (`INVIATA` or `ACQUISITA`): a new segnalazione, of
    /// the same kind and about the same case and member, naming it (`rectificationOf`), submitted for the
    /// coordinator's approval. Approved, it is sent to INPS and the one it replaces becomes `RETTIFICATA`.
    #[graphql(visible = "crate::graphql::visibility::creates_report")]
    async fn rectify_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segnalazione, the version read, and the date and facts as rectified.")]
        input: RectifyReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.reportId", "Report", &input.report_id)?;
        let r = crate::reports::service::Rectification { fact_date: input.fact_date.0, description: input.description };
        let new_id = crate::reports::service::rectify_report(&a, id, input.version, r).await.gql()?;
        Ok(ReportView(by_id::<report::Entity>(gateway(ctx)?, report::Column::Id, new_id, "Report").await.gql()?))
    }

    /// Whoever may raise segnalazioni on it (the case manager, on its own cases): asks to annul a
    /// segnalazione already sent to INPS (`INVIATA` or `ACQUISITA`), saying why. The request is a new segnalazione
    /// with `annuls` true naming it in `rectificationOf`, `DA_APPROVARE` by the coordinator who decides
    /// the others; once approved INPS collects a `SEGNALAZIONE_ANNULLATA` event and the segnalazione
    /// withdrawn is `ANNULLATA`. One rectification or annulment at a time.
    #[graphql(visible = "crate::graphql::visibility::creates_report")]
    async fn annul_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segnalazione, the version read, and why it is withdrawn.")] input: AnnulReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.reportId", "Report", &input.report_id)?;
        let new_id = crate::reports::service::annul_report(&a, id, input.version, &input.reason).await.gql()?;
        Ok(ReportView(by_id::<report::Entity>(gateway(ctx)?, report::Column::Id, new_id, "Report").await.gql()?))
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
