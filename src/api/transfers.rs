//! Case transfers between Ambiti: the list both coordinators (and the Ambito
//! administrators, for escalations) read, and the request, decision and
//! withdrawal; and referrals to a CPI or a specialist service (`caseReferrals`,
//! `referCase`, `stepCaseReferral`). See `transfers`.

use async_graphql::{Context, Enum, InputObject, Object, ID};
use entity::{case_referral, case_transfer, enums::TransferState};
use sea_orm::{ColumnTrait, Condition};

use super::{
    lists::{page_of, sort},
    views::{CaseReferralView, CaseTransferView},
};
use crate::{
    authz::{
        gateway::{Direction, Gateway},
        keys,
    },
    config::Config,
    error::{AppError, GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{acting, gateway, uuid_arg},
        enums::{ReferralTargetView, TransferReasonView, TransferRejectionReasonView, TransferStateView},
        node::by_id,
    },
    transfers::service,
};

/// Filters of `caseTransfers`.
#[derive(InputObject, Default)]
pub struct CaseTransferFilter {
    /// Only transfers in these states.
    pub state: Option<Vec<TransferStateView>>,
    /// Only the transfers coming into the viewer's Ambito (true) or leaving it (false).
    pub incoming: Option<bool>,
    /// Only the transfers escalated after their deadline passed without a decision (or, with false,
    /// the others).
    pub escalated: Option<bool>,
}

#[derive(Default)]
pub struct TransferQuery;

#[Object]
impl TransferQuery {
    /// Case transfers leaving or coming into the viewer's Ambito, newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_case_transfer"
    )]
    async fn case_transfers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<CaseTransferFilter>,
    ) -> GqlResult<Connection<CaseTransferView>> {
        let f = filter.unwrap_or_default();
        let condition = move |gw: &Gateway| transfer_filter(gw, f);
        page_of(ctx, condition, &transfer_order(), (first, after), CaseTransferView).await
    }

    /// Referrals of cases to a Centro per l'impiego or a specialist service the viewer may see,
    /// newest first (a CPI's key: the referrals made to a CPI, with their declared projection).
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_case_referral"
    )]
    async fn case_referrals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
    ) -> GqlResult<Connection<CaseReferralView>> {
        let order = sort!(case_referral, RequestedAt, Direction::Desc, |r: &case_referral::Model| r.requested_at);
        page_of(ctx, super::lists::all, &order, (first, after), CaseReferralView).await
    }
}

fn transfer_filter(gw: &Gateway, f: CaseTransferFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(states) = f.state {
        gw.authz.require_field(keys::case_transfer::STATE, "filtering")?;
        let states: Vec<TransferState> = states.into_iter().map(Into::into).collect();
        c = c.add(case_transfer::Column::State.is_in(states));
    }
    if let Some(incoming) = f.incoming {
        let Some(mine) = gw.authz.principal.ambito_id else {
            return Err(AppError::validation("filter.incoming", "the viewer has no Ambito"));
        };
        c = c.add(if incoming {
            case_transfer::Column::ToAmbitoId.eq(mine)
        } else {
            case_transfer::Column::FromAmbitoId.eq(mine)
        });
    }
    if let Some(e) = f.escalated {
        gw.authz.require_field(keys::case_transfer::ESCALATED_AT, "filtering")?;
        c = c.add(if e {
            case_transfer::Column::EscalatedAt.is_not_null()
        } else {
            case_transfer::Column::EscalatedAt.is_null()
        });
    }
    Ok(c)
}

fn transfer_order() -> crate::authz::gateway::SortKey<case_transfer::Entity> {
    sort!(case_transfer, RequestedAt, Direction::Desc, |r: &case_transfer::Model| r.requested_at)
}

/// Input of `requestCaseTransfer`.
#[derive(InputObject)]
pub struct RequestCaseTransferInput {
    /// The case.
    pub case_id: ID,
    /// The case's version.
    pub version: i32,
    /// ISTAT code of the Comune the household moved to.
    pub to_comune: String,
    /// Why.
    pub reason: TransferReasonView,
    /// The legal basis under which the content `policies/travel.csv` marks `legal_basis` (health notes, the
    /// Quadro di analisi assessment) travels with the case; without it that content is sealed at acceptance.
    pub legal_basis: Option<String>,
}

/// Input of `decideCaseTransfer`.
#[derive(InputObject)]
pub struct DecideCaseTransferInput {
    /// The transfer.
    pub transfer_id: ID,
    /// Its version.
    pub version: i32,
    /// Accept (the case moves here) or reject.
    pub accept: bool,
    /// Required to reject; refused with an acceptance.
    pub rejection_reason: Option<TransferRejectionReasonView>,
    /// A note on the decision (required with `ALTRO`).
    pub note: Option<String>,
}

/// A transfer and its version.
#[derive(InputObject)]
pub struct CaseTransferVersionInput {
    /// The transfer.
    pub transfer_id: ID,
    /// Its version.
    pub version: i32,
}

/// Input of `referCase`.
#[derive(InputObject)]
pub struct ReferCaseInput {
    /// The case.
    pub case_id: ID,
    /// The member referred (left out: the household as a whole).
    pub member_id: Option<ID>,
    /// Where.
    pub target: ReferralTargetView,
    /// The service, by name (a CPI, a Centro di salute mentale, a SerD...).
    pub service: String,
    /// Why (read by the case's roles, never by the service through GePI).
    pub reason: String,
}

/// A step of a referral.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ReferralStep {
    /// The service took the person in charge (`IN_ATTESA → PRESO_IN_CARICO`).
    TakeInCharge,
    /// The referral ends (`→ CHIUSO`).
    Close,
}

/// Input of `stepCaseReferral`.
#[derive(InputObject)]
pub struct StepCaseReferralInput {
    /// The referral.
    pub referral_id: ID,
    /// Its version.
    pub version: i32,
    /// What happened.
    pub step: ReferralStep,
    /// What the service reported.
    pub note: Option<String>,
}

#[derive(Default)]
pub struct TransferMutation;

async fn done(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<CaseTransferView> {
    Ok(CaseTransferView(
        by_id::<case_transfer::Entity>(gateway(ctx)?, case_transfer::Column::Id, id, "CaseTransfer").await.gql()?,
    ))
}

#[Object]
impl TransferMutation {
    /// Coordinatore per il Patto of the case's Ambito: the household moved to another Comune;
    /// asks its Ambito to take the case over. The receiving coordinator decides on a minimal
    /// card (household size, Comune, dates, stage) within `GEPI_TRANSFER_DECISION_DAYS` working
    /// days; then the transfer escalates to both Ambito administrators.
    #[graphql(visible = "crate::graphql::visibility::creates_case_transfer")]
    async fn request_case_transfer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, its version, the Comune it moves to, why, and any legal basis.")]
        input: RequestCaseTransferInput,
    ) -> GqlResult<CaseTransferView> {
        let a = acting(ctx)?;
        let days = ctx.data::<std::sync::Arc<Config>>().map(|c| c.transfer_decision_days).unwrap_or(10);
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let r = service::Request {
            to_comune: input.to_comune,
            reason: input.reason.into(),
            legal_basis: input.legal_basis,
        };
        let tid = service::request(&a, id, input.version, r, days).await.gql()?;
        done(ctx, tid).await
    }

    /// Coordinatore per il Patto of the receiving Ambito: accepts the transfer (in one
    /// transaction the case, its household, its meetings and segnalazioni move here, open
    /// meetings are cancelled, and the case waits for a case manager of this Ambito) or
    /// rejects it with a coded reason.
    #[graphql(visible = "crate::graphql::visibility::approves_case_transfer")]
    async fn decide_case_transfer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The transfer, the version read and the decision.")] input: DecideCaseTransferInput,
    ) -> GqlResult<CaseTransferView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.transferId", "CaseTransfer", &input.transfer_id)?;
        let d = match (input.accept, input.rejection_reason) {
            (true, None) => service::Decision::Accept,
            (false, Some(r)) => service::Decision::Reject { reason: r.into() },
            (true, Some(_)) => {
                return Err(AppError::validation("input.rejectionReason", "an acceptance has no rejection reason"))
                    .gql()
            }
            (false, None) => {
                return Err(AppError::validation("input.rejectionReason", "say why the transfer is rejected")).gql()
            }
        };
        service::decide(&a, id, input.version, d, input.note).await.gql()?;
        done(ctx, id).await
    }

    /// Case manager (own cases): refers the case, or one of its members, to a Centro per l'impiego or a
    /// specialist service; the case keeps its Ambito and case manager. A referral to a CPI reaches the CPI's
    /// change feed (`INVIO_CPI`, with the member's codice fiscale).
    #[graphql(visible = "crate::graphql::visibility::creates_case_referral")]
    async fn refer_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the member (if one), the service and why.")] input: ReferCaseInput,
    ) -> GqlResult<CaseReferralView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let member_id = input.member_id.as_ref().map(|m| uuid_arg("input.memberId", "Member", m)).transpose()?;
        let n = crate::transfers::referral::NewReferral {
            member_id,
            target: input.target.into(),
            service: input.service,
            reason: input.reason,
        };
        let rid = crate::transfers::referral::refer(&a, id, n).await.gql()?;
        Ok(CaseReferralView(
            by_id::<case_referral::Entity>(gateway(ctx)?, case_referral::Column::Id, rid, "CaseReferral")
                .await
                .gql()?,
        ))
    }

    /// The case manager (own cases), or a Centro per l'impiego's key for a referral to a CPI: the service
    /// took the person in charge, or the referral closes.
    #[graphql(visible = "crate::graphql::visibility::updates_case_referral")]
    async fn step_case_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral, the version read, the step and the service's note.")]
        input: StepCaseReferralInput,
    ) -> GqlResult<CaseReferralView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.referralId", "CaseReferral", &input.referral_id)?;
        let step = match input.step {
            ReferralStep::TakeInCharge => crate::transfers::referral::Step::TakeInCharge,
            ReferralStep::Close => crate::transfers::referral::Step::Close,
        };
        crate::transfers::referral::step(&a, id, input.version, step, input.note).await.gql()?;
        Ok(CaseReferralView(
            by_id::<case_referral::Entity>(gateway(ctx)?, case_referral::Column::Id, id, "CaseReferral").await.gql()?,
        ))
    }

    /// Coordinatore per il Patto of the sending Ambito: withdraws a transfer not decided yet.
    #[graphql(visible = "crate::graphql::visibility::creates_case_transfer")]
    async fn withdraw_case_transfer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The transfer and the version read.")] input: CaseTransferVersionInput,
    ) -> GqlResult<CaseTransferView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.transferId", "CaseTransfer", &input.transfer_id)?;
        service::withdraw(&a, id, input.version).await.gql()?;
        done(ctx, id).await
    }
}
