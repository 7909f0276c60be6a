//! `node(id:)`: any object by global id, under the same authorization as every
//! other path. An id out of the viewer's scope answers exactly like an id that
//! does not exist.

use async_graphql::{Context, Interface, Object, ID};
use entity::*;
use uuid::Uuid;

use super::views::*;
use crate::{
    authz::gateway::Gateway,
    error::{AppError, GqlResult, ResultExt},
    graphql::node::{by_id, not_found},
    ids,
};

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global id."))]
pub enum Node {
    Ambito(AmbitoView),
    Comune(ComuneView),
    Convention(ConventionView),
    Operator(OperatorView),
    Profile(ProfileView),
    Household(HouseholdView),
    Member(MemberView),
    Application(ApplicationView),
    Case(CaseView),
    PreliminaryAnalysis(PreliminaryAnalysisView),
    AnalysisFramework(AnalysisFrameworkView),
    AnalysisTeamMember(AnalysisTeamMemberView),
    Pact(PactView),
    PactObjective(PactObjectiveView),
    PactExpectedResult(PactExpectedResultView),
    PactCommitment(PactCommitmentView),
    Support(SupportView),
    Report(ReportView),
    Meeting(MeetingView),
    OfficeSlot(OfficeSlotView),
    PucProject(PucProjectView),
    PucAssignment(PucAssignmentView),
    PucAttendance(PucAttendanceView),
    ResidencyCheck(ResidencyCheckView),
    ResidencyPeriod(ResidencyPeriodView),
    DisadvantageCheck(DisadvantageCheckView),
    AuditEvent(AuditEventView),
}

pub async fn node(ctx: &Context<'_>, gw: &Gateway, id: &ID) -> GqlResult<Node> {
    let _ = ctx;
    let (kind, key) = ids::decode("id", id).gql()?;
    let uuid = || Uuid::parse_str(&key).map_err(|_| AppError::validation("id", "not a valid id")).gql();
    macro_rules! load {
        ($m:ident, $variant:ident, $view:ident) => {
            Node::$variant($view(by_id::<$m::Entity>(gw, $m::Column::Id, uuid()?, stringify!($variant)).await.gql()?))
        };
    }
    Ok(match kind.as_str() {
        "Ambito" => load!(ambito, Ambito, AmbitoView),
        "Comune" => {
            let rows = gw
                .by_keys::<comune::Entity, String>(comune::Column::IstatCode, std::slice::from_ref(&key), None)
                .await
                .gql()?;
            Node::Comune(ComuneView(rows.into_iter().next().ok_or_else(|| not_found("Comune")).gql()?))
        }
        "Convention" => load!(convention, Convention, ConventionView),
        "Operator" => load!(operator, Operator, OperatorView),
        "Profile" => load!(profile, Profile, ProfileView),
        "Household" => load!(household, Household, HouseholdView),
        "Member" => load!(member, Member, MemberView),
        "Application" => load!(application, Application, ApplicationView),
        "Case" => load!(case_file, Case, CaseView),
        "PreliminaryAnalysis" => load!(preliminary_analysis, PreliminaryAnalysis, PreliminaryAnalysisView),
        "AnalysisFramework" => load!(analysis_framework, AnalysisFramework, AnalysisFrameworkView),
        "AnalysisTeamMember" => load!(analysis_team_member, AnalysisTeamMember, AnalysisTeamMemberView),
        "Pact" => load!(pact, Pact, PactView),
        "PactObjective" => load!(pact_objective, PactObjective, PactObjectiveView),
        "PactExpectedResult" => load!(pact_expected_result, PactExpectedResult, PactExpectedResultView),
        "PactCommitment" => load!(pact_commitment, PactCommitment, PactCommitmentView),
        "Support" => load!(support, Support, SupportView),
        "Report" => load!(report, Report, ReportView),
        "Meeting" => load!(meeting, Meeting, MeetingView),
        "OfficeSlot" => load!(office_slot, OfficeSlot, OfficeSlotView),
        "PucProject" => load!(puc_project, PucProject, PucProjectView),
        "PucAssignment" => load!(puc_assignment, PucAssignment, PucAssignmentView),
        "PucAttendance" => load!(puc_attendance, PucAttendance, PucAttendanceView),
        "ResidencyCheck" => load!(residency_check, ResidencyCheck, ResidencyCheckView),
        "ResidencyPeriod" => load!(residency_period, ResidencyPeriod, ResidencyPeriodView),
        "DisadvantageCheck" => load!(disadvantage_check, DisadvantageCheck, DisadvantageCheckView),
        "AuditEvent" => load!(audit_event, AuditEvent, AuditEventView),
        _ => return Err(not_found("object")).gql(),
    })
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id.
    #[graphql(visible = "crate::graphql::visibility::node")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Node> {
        node(ctx, crate::graphql::context::gateway(ctx)?, &id).await
    }
}
