//! Root fields of cases: `cases(first, after, filter, orderBy)`, `case(id)`, and the
//! case workflow mutations (thin: decode ids, one service call, re-read the result
//! through the same authorization as any read).

use async_graphql::{Context, Enum, InputObject, Object, ID};
use entity::case_file;

use sea_orm::QueryFilter;

use super::compiled::{only_arguments, Collected, Planner, RootPlan};
use super::lists::{page_of, sort, DateRange};
use crate::cases::{lists, service};
use crate::graphql::scalars::Date;
use crate::meetings::service as meetings;
use crate::{
    api::views::{CaseView, ReportView},
    authz::gateway::{Direction, Gateway, SortKey},
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::{
            AnalysisOutcomeView, CaseStateView, NeedAreaView, PathwayTypeView, ReportKindView, SupportKindView,
            TeamServiceView,
        },
        node::by_id,
    },
};

/// Filters of `cases`.
#[derive(InputObject, Default)]
pub struct CaseFilter {
    /// Only cases in these states.
    #[graphql(visible = "crate::graphql::visibility::case_state")]
    pub state: Option<Vec<CaseStateView>>,
    /// Only cases of this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::case_comune")]
    pub comune: Option<String>,
    /// Only cases whose PAD was signed in this range.
    #[graphql(visible = "crate::graphql::visibility::case_pad_date")]
    pub pad_date: Option<DateRange>,
    /// Only cases whose first-meeting deadline falls within this many days (no meeting yet).
    #[graphql(visible = "crate::graphql::visibility::case_due")]
    pub due_within_days: Option<i32>,
    /// Only cases past the first-meeting deadline without a meeting (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::case_overdue")]
    pub overdue: Option<bool>,
    /// Only cases with no case manager (or, with false, assigned ones).
    #[graphql(visible = "crate::graphql::visibility::case_unassigned")]
    pub unassigned: Option<bool>,
    /// Only the cases of this case manager (an `Operator` id): one case manager's workload.
    #[graphql(visible = "crate::graphql::visibility::case_unassigned")]
    pub case_manager_id: Option<ID>,
    /// Only cases whose case manager no longer holds a case-manager profile in
    /// force (revoked, suspended, expired): work to reassign (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::case_to_reassign")]
    pub to_reassign: Option<bool>,
    /// Only cases on this ADI pathway (sensitive: only roles that read it may filter by it).
    #[graphql(visible = "crate::graphql::visibility::case_pathway_type")]
    pub pathway_type: Option<PathwayTypeView>,
}

/// Order of `cases`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum CaseOrder {
    /// Oldest PAD first: the most urgent deadlines first (default).
    #[default]
    PadDateAsc,
    /// Newest PAD first.
    PadDateDesc,
}

#[derive(Default)]
pub struct CaseQuery;

#[Object]
impl CaseQuery {
    /// Cases the viewer may see.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_case"
    )]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<CaseFilter>,
        #[graphql(desc = "Sort order of the rows (ties broken by id, so that pages do not overlap).")] order_by: Option<
            CaseOrder,
        >,
    ) -> GqlResult<Connection<CaseView>> {
        let (condition, sort) = case_list(filter, order_by);
        page_of(ctx, condition, &sort, (first, after), CaseView).await
    }

    /// One case by id; an id out of the viewer's scope answers like a missing one.
    #[graphql(visible = "crate::graphql::visibility::reads_case")]
    async fn case(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<CaseView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "Case", &id)?;
        Ok(Some(CaseView(by_id::<case_file::Entity>(gw, case_file::Column::Id, id, "Case").await.gql()?)))
    }
}

/// The condition (after the row rule) and the order of the case list, for the
/// resolver and the compiled read alike.
fn case_list(
    filter: Option<CaseFilter>,
    order_by: Option<CaseOrder>,
) -> (impl FnOnce(&Gateway) -> Result<sea_orm::Condition, crate::error::AppError>, SortKey<case_file::Entity>) {
    let f = filter.unwrap_or_default();
    let f = lists::CaseFilter {
        states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
        comune: f.comune,
        pad_date: f.pad_date.map(Into::into),
        due_within_days: f.due_within_days,
        overdue: f.overdue,
        unassigned: f.unassigned,
        case_manager: f.case_manager_id.map(|id| id.to_string()),
        to_reassign: f.to_reassign,
        pathway_type: f.pathway_type.map(Into::into),
    };
    let direction = match order_by.unwrap_or_default() {
        CaseOrder::PadDateAsc => Direction::Asc,
        CaseOrder::PadDateDesc => Direction::Desc,
    };
    let sort = sort!(case_file, PadDate, direction, |r: &case_file::Model| r.pad_date);
    let condition = move |gw: &Gateway| {
        let c = lists::case_list(&gw.authz, f)?;
        lists::may_order_by_pad_date(&gw.authz)?;
        Ok(c)
    };
    (condition, sort)
}

/// `cases`, compiled (see `api::compiled`).
pub(super) fn compiled_cases(pl: &mut Planner<'_>, root: &Collected<'_>) -> RootPlan {
    let f = root.field;
    only_arguments(root, &["first", "after", "filter", "orderBy"])?;
    let first: Option<i32> = pl.arg(f, "first")?;
    let after: Option<String> = pl.arg(f, "after")?;
    let (condition, sort) = case_list(pl.arg(f, "filter")?, pl.arg(f, "orderBy")?);
    let select = pl.gw.select::<case_file::Entity>()?;
    let select = select.filter(condition(pl.gw)?);
    pl.connection::<CaseView>(root, select, sort, first, after)
}

/// A case and the version the client last saw (optimistic concurrency).
#[derive(InputObject)]
pub struct CaseRef {
    /// The case.
    pub id: ID,
    /// The case's `version` as the client read it.
    pub version: i32,
}

/// Input of `assignCases`.
#[derive(InputObject)]
pub struct AssignCasesInput {
    /// The cases to assign (or reassign), with their versions.
    pub cases: Vec<CaseRef>,
    /// The case manager (an operator id) who takes them.
    pub case_manager_id: ID,
}

/// Input of `recordFirstMeeting`.
#[derive(InputObject)]
pub struct RecordFirstMeetingInput {
    /// The case.
    pub case_id: ID,
    /// The case's version.
    pub version: i32,
    /// The day the meeting was held (not in the future, not before the PAD).
    pub held_on: Date,
    /// The household presented itself without being convened.
    #[graphql(default)]
    pub spontaneous: bool,
    /// Where it was held.
    pub place: String,
    /// Who attended.
    pub attendees: Option<String>,
}

/// Input of `saveAnalysis`: the draft's texts replace the saved ones.
#[derive(InputObject)]
pub struct SaveAnalysisInput {
    /// The case.
    pub case_id: ID,
    /// The analysis's version.
    pub version: i32,
    /// Needs of the household and its members.
    pub needs_notes: Option<String>,
    /// Resources and capacities.
    pub resources_notes: Option<String>,
    /// Health notes (special-category data).
    pub health_notes: Option<String>,
}

/// Input of `completeAnalysis`.
#[derive(InputObject)]
pub struct CompleteAnalysisInput {
    /// The case.
    pub case_id: ID,
    /// The case's version.
    pub version: i32,
    /// Where the analysis routes the case.
    pub outcome: AnalysisOutcomeView,
    /// The ADI pathway it sets. Left out: `OBBLIGO_ATTIVAZIONE` when a member is bound to work
    /// activation, `OBBLIGO_SOCIALE_OPZIONE_LAVORO` otherwise; an option (`OPZIONE_ATTIVAZIONE`,
    /// `OPZIONE_SFL`) is named. None with `NESSUN_PERCORSO`.
    pub pathway_type: Option<PathwayTypeView>,
}

/// A case and its version, for actions that need nothing else
/// (`reopenAnalysis`, `completeFramework`).
#[derive(InputObject)]
pub struct CaseVersionInput {
    /// The case.
    pub case_id: ID,
    /// The case's version.
    pub version: i32,
}

/// Input of `raiseReport`.
#[derive(InputObject)]
pub struct RaiseReportInput {
    /// The case the fact concerns.
    pub case_id: ID,
    /// Kind of fact.
    pub kind: ReportKindView,
    /// Date of the fact (not in the future, not before the PAD).
    pub fact_date: Date,
    /// The facts.
    pub description: String,
    /// The member concerned, of the household of the case.
    pub member_id: Option<ID>,
    /// Keep it as a draft instead of submitting it for approval.
    #[graphql(default)]
    pub draft: bool,
}

/// A segnalazione and the version the client last saw.
#[derive(InputObject)]
pub struct SubmitReportInput {
    /// The segnalazione.
    pub report_id: ID,
    /// Its version.
    pub version: i32,
}

/// Input of `decideReport`.
#[derive(InputObject)]
pub struct DecideReportInput {
    /// The segnalazione.
    pub report_id: ID,
    /// Its version.
    pub version: i32,
    /// Approve (it is sent to INPS) or reject.
    pub approve: bool,
    /// The coordinator's comment; required to reject.
    pub comment: Option<String>,
}

use crate::graphql::context::acting;

async fn read_case(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<CaseView> {
    Ok(CaseView(by_id::<case_file::Entity>(gateway(ctx)?, case_file::Column::Id, id, "Case").await.gql()?))
}

async fn read_report(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<ReportView> {
    Ok(ReportView(
        by_id::<entity::report::Entity>(gateway(ctx)?, entity::report::Column::Id, id, "Report").await.gql()?,
    ))
}

/// A member of the équipe multidisciplinare.
#[derive(InputObject)]
pub struct TeamMemberInput {
    /// Name of the professional.
    pub full_name: String,
    /// Service the professional comes from.
    pub service: TeamServiceView,
    /// Role in the team.
    pub team_role: String,
}

/// Input of `saveFramework`.
#[derive(InputObject)]
pub struct SaveFrameworkInput {
    /// The case.
    pub case_id: ID,
    /// The Quadro di analisi's version.
    pub version: i32,
    /// Multidimensional assessment.
    pub assessment_notes: Option<String>,
    /// Priorities agreed.
    pub priorities: Option<String>,
    /// The équipe (replaces the saved one; defining it starts the Quadro).
    pub team: Option<Vec<TeamMemberInput>>,
}

/// An expected result of an objective.
#[derive(InputObject)]
pub struct ExpectedResultInput {
    /// How the result is verified.
    pub indicator: String,
    /// Due date.
    pub due_on: Date,
}

/// A general objective of the pact.
#[derive(InputObject)]
pub struct ObjectiveInput {
    /// Area of the multidimensional analysis.
    pub area: NeedAreaView,
    /// The objective.
    pub description: String,
    /// Its expected results.
    #[graphql(default)]
    pub expected_results: Vec<ExpectedResultInput>,
}

/// A commitment of the pact.
#[derive(InputObject)]
pub struct CommitmentInput {
    /// The commitment.
    pub description: String,
    /// The member bound by it (required for a conditionality).
    pub obligated_member_id: Option<ID>,
    /// Other members involved (for them it is not a conditionality).
    #[graphql(default)]
    pub other_member_ids: Vec<ID>,
    /// Due date.
    pub due_on: Option<Date>,
    /// Whether breaching it can cause decadenza.
    #[graphql(default)]
    pub is_conditionality: bool,
}

/// A support (sostegno).
#[derive(InputObject)]
pub struct SupportFields {
    /// Kind of support (LEPS catalogue).
    pub kind: SupportKindView,
    /// Who provides it.
    pub provider: String,
    /// Start.
    pub starts_on: Option<Date>,
    /// End.
    pub ends_on: Option<Date>,
}

/// Input of `savePact`: the draft's content replaces the saved one.
#[derive(InputObject)]
pub struct SavePactInput {
    /// The case.
    pub case_id: ID,
    /// The draft's version, or 0 to create the first draft.
    pub version: i32,
    /// General objectives with their expected results.
    #[graphql(default)]
    pub objectives: Vec<ObjectiveInput>,
    /// Commitments per member.
    #[graphql(default)]
    pub commitments: Vec<CommitmentInput>,
    /// Supports of this version.
    #[graphql(default)]
    pub supports: Vec<SupportFields>,
    /// How services will convene the household.
    pub contact_modality: Option<String>,
    /// Reference person overseeing delivery and monitoring.
    pub reference_person: Option<String>,
    /// Next review (default: 90 days after signature).
    pub next_review_on: Option<Date>,
}

/// Input of `signPact`.
#[derive(InputObject)]
pub struct SignPactInput {
    /// The case.
    pub case_id: ID,
    /// The draft's version.
    pub version: i32,
    /// The day the household signed.
    pub signed_on: Date,
}

/// Input of `revisePact`.
#[derive(InputObject)]
pub struct RevisePactInput {
    /// The case.
    pub case_id: ID,
    /// The signed version's `version`.
    pub version: i32,
}

/// Input of `refusePact`.
#[derive(InputObject)]
pub struct RefusePactInput {
    /// The case.
    pub case_id: ID,
    /// The draft's version.
    pub version: i32,
    /// The day the household refused.
    pub fact_date: Date,
    /// What happened (goes into the segnalazione).
    pub description: String,
}

/// Input of `activateSupport`.
#[derive(InputObject)]
pub struct ActivateSupportInput {
    /// The case.
    pub case_id: ID,
    /// The support.
    pub support: SupportFields,
}

/// What to do with a support once it is active (or still planned).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SupportAction {
    /// `ATTIVO → CONCLUSO`: the support ended (on `on`, default today).
    Conclude,
    /// `DA_ATTIVARE | ATTIVO → ANNULLATO`: the support will not take place, or stops.
    Cancel,
}

/// Input of `changeSupportState`.
#[derive(InputObject)]
pub struct ChangeSupportStateInput {
    /// The support.
    pub support_id: ID,
    /// What to do.
    pub action: SupportAction,
    /// The day the support ended (`CONCLUDE`; default today, not in the future).
    pub on: Option<Date>,
}

fn support_fields(s: SupportFields) -> crate::cases::pact::SupportInput {
    crate::cases::pact::SupportInput {
        kind: s.kind.into(),
        provider: s.provider,
        starts_on: s.starts_on.map(Into::into),
        ends_on: s.ends_on.map(Into::into),
    }
}

#[derive(Default)]
pub struct CaseMutation;

#[Object]
impl CaseMutation {
    /// Coordinatore per il Patto: assigns or reassigns cases of the Ambito to a case
    /// manager of the same Ambito. All or nothing.
    #[graphql(visible = "crate::graphql::visibility::assigns_case")]
    async fn assign_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cases, each with the version read, and the case manager they go to.")]
        input: AssignCasesInput,
    ) -> GqlResult<Vec<CaseView>> {
        let a = acting(ctx)?;
        let refs = input
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| uuid_arg(&format!("input.cases[{i}].id"), "Case", &c.id).map(|id| (id, c.version)))
            .collect::<GqlResult<Vec<_>>>()?;
        let cm = uuid_arg("input.caseManagerId", "Operator", &input.case_manager_id)?;
        let ids = service::assign_cases(&a, &refs, cm).await.gql()?;
        let mut out = Vec::new();
        for id in ids {
            out.push(read_case(ctx, id).await?);
        }
        Ok(out)
    }

    /// Case manager: records the first meeting or the spontaneous presentation; the
    /// case moves to the Analisi preliminare.
    #[graphql(visible = "crate::graphql::visibility::updates_case")]
    async fn record_first_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read and the day of the first meeting.")]
        input: RecordFirstMeetingInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let m = meetings::FirstMeeting {
            held_on: input.held_on.0,
            spontaneous: input.spontaneous,
            place: input.place,
            attendees: input.attendees,
        };
        let id =
            meetings::record_first_meeting(&a, id, input.version, m, meetings::Recorder::CaseManager).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: saves the draft of the Analisi preliminare.
    #[graphql(visible = "crate::graphql::visibility::updates_preliminary_analysis")]
    async fn save_analysis(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read and the content of the Analisi preliminare draft.")]
        input: SaveAnalysisInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let notes = service::AnalysisNotes {
            needs_notes: input.needs_notes,
            resources_notes: input.resources_notes,
            health_notes: input.health_notes,
        };
        service::save_analysis(&a, id, input.version, notes).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: completes the Analisi preliminare with its outcome, which routes
    /// the case (simplified pact, Quadro di analisi, CPI, specialist services).
    #[graphql(visible = "crate::graphql::visibility::updates_preliminary_analysis")]
    async fn complete_analysis(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read and the outcome of the Analisi preliminare.")]
        input: CompleteAnalysisInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        service::complete_analysis(&a, id, input.version, input.outcome.into(), input.pathway_type.map(Into::into))
            .await
            .gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: reopens a completed Analisi preliminare.
    #[graphql(visible = "crate::graphql::visibility::updates_preliminary_analysis")]
    async fn reopen_analysis(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the version read.")] input: CaseVersionInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        service::reopen_analysis(&a, id, input.version).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: raises a segnalazione (non-attendance, refusal to sign or of a
    /// PUC, other sanctionable facts) for the coordinator's approval.
    #[graphql(visible = "crate::graphql::visibility::creates_report")]
    async fn raise_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the kind of segnalazione, the date of the fact and its description.")]
        input: RaiseReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let case_id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let member_id = input.member_id.as_ref().map(|m| uuid_arg("input.memberId", "Member", m)).transpose()?;
        let r = service::NewReport {
            kind: input.kind.into(),
            fact_date: input.fact_date.0,
            description: input.description,
            member_id,
            draft: input.draft,
        };
        let id = service::raise_report(&a, case_id, r).await.gql()?;
        read_report(ctx, id).await
    }

    /// Case manager: submits a draft segnalazione for approval.
    #[graphql(visible = "crate::graphql::visibility::creates_report")]
    async fn submit_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segnalazione draft and the version read.")] input: SubmitReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.reportId", "Report", &input.report_id)?;
        crate::reports::service::submit_report(&a, id, input.version).await.gql()?;
        read_report(ctx, id).await
    }

    /// Case manager: saves the Quadro di analisi and its équipe multidisciplinare.
    #[graphql(visible = "crate::graphql::visibility::updates_analysis_framework")]
    async fn save_framework(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read and the content of the Quadro di analisi draft.")]
        input: SaveFrameworkInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let f = crate::cases::pact::Framework {
            assessment_notes: input.assessment_notes,
            priorities: input.priorities,
            team: input.team.map(|t| {
                t.into_iter()
                    .map(|m| crate::cases::pact::TeamMember {
                        full_name: m.full_name,
                        service: m.service.into(),
                        team_role: m.team_role,
                    })
                    .collect()
            }),
        };
        crate::cases::pact::save_framework(&a, id, input.version, f).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: closes the Quadro di analisi; the case moves to the pact.
    #[graphql(visible = "crate::graphql::visibility::updates_analysis_framework")]
    async fn complete_framework(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the version read.")] input: CaseVersionInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        crate::cases::pact::complete_framework(&a, id, input.version).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: writes the draft pact: objectives, expected results,
    /// commitments per member, supports.
    #[graphql(visible = "crate::graphql::visibility::updates_pact")]
    async fn save_pact(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The case, the version read and the content of the Patto draft, which replaces the saved one."
        )]
        input: SavePactInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let member = |field: String, m: &ID| uuid_arg(&field, "Member", m);
        let mut commitments = Vec::new();
        for (i, c) in input.commitments.into_iter().enumerate() {
            let obligated = c
                .obligated_member_id
                .as_ref()
                .map(|m| member(format!("input.commitments[{i}].obligatedMemberId"), m))
                .transpose()?;
            let others = c
                .other_member_ids
                .iter()
                .enumerate()
                .map(|(j, m)| member(format!("input.commitments[{i}].otherMemberIds[{j}]"), m))
                .collect::<GqlResult<Vec<_>>>()?;
            commitments.push(crate::cases::pact::Commitment {
                description: c.description,
                obligated_member_id: obligated,
                other_member_ids: others,
                due_on: c.due_on.map(Into::into),
                is_conditionality: c.is_conditionality,
            });
        }
        let content = crate::cases::pact::PactContent {
            objectives: input
                .objectives
                .into_iter()
                .map(|o| crate::cases::pact::Objective {
                    area: o.area.into(),
                    description: o.description,
                    expected_results: o.expected_results.into_iter().map(|r| (r.indicator, r.due_on.0)).collect(),
                })
                .collect(),
            commitments,
            supports: input.supports.into_iter().map(support_fields).collect(),
            contact_modality: input.contact_modality,
            reference_person: input.reference_person,
            next_review_on: input.next_review_on.map(Into::into),
        };
        crate::cases::pact::save_pact(&a, id, input.version, content).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: records the household's signature; the case goes to monitoring.
    #[graphql(visible = "crate::graphql::visibility::updates_pact")]
    async fn sign_pact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read and the day the Patto was signed.")] input: SignPactInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        crate::cases::pact::sign_pact(&a, id, input.version, input.signed_on.0).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: opens a revision of the signed pact as a new draft version,
    /// keeping the signed one in force until the new one is signed.
    #[graphql(visible = "crate::graphql::visibility::updates_pact")]
    async fn revise_pact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the version read.")] input: RevisePactInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        crate::cases::pact::revise_pact(&a, id, input.version).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager: the household refuses to sign; a segnalazione goes to the coordinator.
    #[graphql(visible = "crate::graphql::visibility::updates_pact")]
    async fn refuse_pact(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the version read, the day of the refusal and what happened.")]
        input: RefusePactInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        crate::cases::pact::refuse_pact(&a, id, input.version, input.fact_date.0, input.description).await.gql()?;
        read_case(ctx, id).await
    }

    /// Referente per l'attivazione dei sostegni (cases not yet distributed) or the
    /// case manager (its own cases): activates a support on a case. A support of
    /// that kind planned in the pact (`DA_ATTIVARE`) is the one activated (same
    /// provider, else the only one of the kind); only when none is planned is a
    /// new active support recorded. The same kind and provider already active is
    /// a conflict.
    #[graphql(visible = "crate::graphql::visibility::creates_support")]
    async fn activate_support(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the support to activate.")] input: ActivateSupportInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        crate::cases::pact::activate_support(&a, id, support_fields(input.support)).await.gql()?;
        read_case(ctx, id).await
    }

    /// Case manager (its own cases) or Referente (cases not yet distributed):
    /// concludes an active support or cancels a planned or active one. Returns
    /// the case.
    #[graphql(visible = "crate::graphql::visibility::updates_support")]
    async fn change_support_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The support, what to do with it and on which day.")] input: ChangeSupportStateInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.supportId", "Support", &input.support_id)?;
        let step = match input.action {
            SupportAction::Conclude => crate::cases::pact::SupportStep::Conclude,
            SupportAction::Cancel => crate::cases::pact::SupportStep::Cancel,
        };
        let case_id = crate::cases::pact::step_support(&a, id, step, input.on.map(Into::into)).await.gql()?;
        read_case(ctx, case_id).await
    }

    /// Coordinatore per il Patto: approves (sent to INPS) or rejects a segnalazione.
    #[graphql(visible = "crate::graphql::visibility::approves_report")]
    async fn decide_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segnalazione, the version read and the decision.")] input: DecideReportInput,
    ) -> GqlResult<ReportView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.reportId", "Report", &input.report_id)?;
        crate::reports::service::decide_report(&a, id, input.version, input.approve, input.comment).await.gql()?;
        read_report(ctx, id).await
    }
}
