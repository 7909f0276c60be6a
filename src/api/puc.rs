//! PUC mutations and the catalogue's vacancies.

use async_graphql::{Context, Enum, ErrorExtensions, InputObject, Object, SimpleObject, ID};
use entity::{puc_assignment, puc_project};
use uuid::Uuid;

use super::lists::{page_of, sort};
use crate::graphql::scalars::Date;
use crate::puc::{
    lists,
    service::{self as svc, Vacancies},
};
use crate::{
    api::views::{PucAssignmentView, PucProjectView},
    authz::gateway::Direction,
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::{AttendanceStatusView, InterruptionReasonView, PlaceSourceView, PucFieldView, PucProjectStateView},
        node::by_id,
        relations::{loaders, Batcher},
    },
};

/// Free places of a project, per source of beneficiaries.
#[derive(SimpleObject)]
pub struct PucVacancies {
    /// Places for beneficiaries of the Comune still free.
    pub comune: i32,
    /// Places for beneficiaries of the CPI still free.
    pub cpi: i32,
    /// Places for volunteers still free.
    pub volunteer: i32,
    /// All free places.
    pub total: i32,
}

impl From<Vacancies> for PucVacancies {
    fn from(v: Vacancies) -> Self {
        PucVacancies { comune: v.comune, cpi: v.cpi, volunteer: v.volunteer, total: v.total() }
    }
}

/// Places taken on a project, batched for the request.
pub async fn taken(ctx: &Context<'_>, project: Uuid) -> GqlResult<Vacancies> {
    let b = loaders(ctx)?.batcher::<Uuid, Vacancies>("puc_taken_places", |gw| {
        let db = gw.reads.clone();
        Batcher::new(Box::new(move |keys: Vec<Uuid>| {
            let db = db.clone();
            Box::pin(async move { svc::taken_places(&db, &keys).await })
        }))
    });
    b.load(project).await.map_err(|e| e.extend())
}

/// Fields of a PUC project; on update, omitted ones stay as they are.
#[derive(InputObject, Default)]
pub struct PucProjectFields {
    /// Title.
    pub title: Option<String>,
    /// Field of activity.
    pub field: Option<PucFieldView>,
    /// Description and objectives.
    pub description: Option<String>,
    /// Host body (ente attuatore).
    pub host_body: Option<String>,
    /// Site (postazione).
    pub site: Option<String>,
    /// Days and hours.
    pub schedule: Option<String>,
    /// Weekly hours (8-16).
    pub weekly_hours: Option<i32>,
    /// Places for beneficiaries of the Comune.
    pub places_comune: Option<i32>,
    /// Places for beneficiaries of the CPI.
    pub places_cpi: Option<i32>,
    /// Places for volunteers.
    pub places_volunteer: Option<i32>,
    /// Start date.
    pub starts_on: Option<Date>,
    /// End date.
    pub ends_on: Option<Date>,
    /// Minimum participation in months.
    pub min_duration_months: Option<i32>,
    /// Tutor or contact person.
    pub tutor: Option<String>,
}

impl From<PucProjectFields> for svc::ProjectFields {
    fn from(f: PucProjectFields) -> Self {
        svc::ProjectFields {
            title: f.title,
            field: f.field.map(Into::into),
            description: f.description,
            host_body: f.host_body,
            site: f.site,
            schedule: f.schedule,
            weekly_hours: f.weekly_hours,
            places_comune: f.places_comune,
            places_cpi: f.places_cpi,
            places_volunteer: f.places_volunteer,
            starts_on: f.starts_on.map(Into::into),
            ends_on: f.ends_on.map(Into::into),
            min_duration_months: f.min_duration_months,
            tutor: f.tutor,
        }
    }
}

/// Input of `createPucProject`.
#[derive(InputObject)]
pub struct CreatePucProjectInput {
    /// The Comune owning the project (ISTAT code), one of the profile's.
    pub comune_istat: String,
    /// The project.
    pub project: PucProjectFields,
}

/// Input of `updatePucProject`.
#[derive(InputObject)]
pub struct UpdatePucProjectInput {
    /// The project.
    pub project_id: ID,
    /// Its version.
    pub version: i32,
    /// The fields to change.
    pub project: PucProjectFields,
}

/// What to do with a project.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PucProjectAction {
    /// Publish a draft to the catalogue.
    Publish,
    /// Close the project.
    Close,
    /// Cancel the project (not while beneficiaries are active).
    Cancel,
}

/// Input of `changePucProjectState`.
#[derive(InputObject)]
pub struct ChangePucProjectStateInput {
    /// The project.
    pub project_id: ID,
    /// Its version.
    pub version: i32,
    /// What to do.
    pub action: PucProjectAction,
}

/// Input of `proposePucAssignment`.
#[derive(InputObject)]
pub struct ProposePucAssignmentInput {
    /// The project.
    pub project_id: ID,
    /// The member proposed.
    pub member_id: ID,
    /// Whose places it uses.
    pub source: PlaceSourceView,
}

/// Input of `proposeCpiBeneficiary`.
#[derive(InputObject)]
pub struct ProposeCpiBeneficiaryInput {
    /// The project, from the catalogue.
    pub project_id: ID,
    /// Codice fiscale of the CPI's beneficiary.
    pub fiscal_code: String,
}

/// What to do with an assignment.
#[derive(InputObject)]
pub struct PucAssignmentStepInput {
    /// The assignment.
    pub assignment_id: ID,
    /// Its version.
    pub version: i32,
    /// Start it on this day (INAIL reference required).
    pub start_on: Option<Date>,
    /// INAIL activation reference, to start it.
    pub inail_ref: Option<String>,
    /// Complete it.
    #[graphql(default)]
    pub complete: bool,
    /// Interrupt it for this reason.
    pub interrupt: Option<InterruptionReasonView>,
    /// Day of the interruption.
    pub interrupted_on: Option<Date>,
    /// With an interruption: raise a segnalazione draft (refusal or abandonment).
    #[graphql(default)]
    pub raise_report: bool,
}

/// Input of `recordPucAttendance`.
#[derive(InputObject)]
pub struct RecordPucAttendanceInput {
    /// The assignment.
    pub assignment_id: ID,
    /// The day.
    pub day: Date,
    /// Minutes of activity (0 for an absence).
    pub minutes: i32,
    /// Present, justified or unjustified absence.
    pub status: AttendanceStatusView,
    /// Note.
    pub note: Option<String>,
}

use crate::graphql::context::acting;

async fn project(ctx: &Context<'_>, id: Uuid) -> GqlResult<PucProjectView> {
    Ok(PucProjectView(
        by_id::<puc_project::Entity>(gateway(ctx)?, puc_project::Column::Id, id, "PucProject").await.gql()?,
    ))
}

async fn assignment(ctx: &Context<'_>, id: Uuid) -> GqlResult<PucAssignmentView> {
    Ok(PucAssignmentView(
        by_id::<puc_assignment::Entity>(gateway(ctx)?, puc_assignment::Column::Id, id, "PucAssignment").await.gql()?,
    ))
}

#[derive(Default)]
pub struct PucMutation;

#[Object]
impl PucMutation {
    /// Responsabile PUC: creates a project (a draft) in one of its Comuni.
    #[graphql(visible = "crate::graphql::visibility::creates_puc_project")]
    async fn create_puc_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Comune owning the project and the project.")] input: CreatePucProjectInput,
    ) -> GqlResult<PucProjectView> {
        let a = acting(ctx)?;
        let id = svc::create_project(&a, &input.comune_istat, input.project.into()).await.gql()?;
        project(ctx, id).await
    }

    /// Responsabile PUC: edits a project.
    #[graphql(visible = "crate::graphql::visibility::updates_puc_project")]
    async fn update_puc_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the version read and the fields to change.")] input: UpdatePucProjectInput,
    ) -> GqlResult<PucProjectView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.projectId", "PucProject", &input.project_id)?;
        svc::update_project(&a, id, input.version, input.project.into()).await.gql()?;
        project(ctx, id).await
    }

    /// Responsabile PUC: publishes to the catalogue, closes or cancels a project.
    #[graphql(visible = "crate::graphql::visibility::updates_puc_project")]
    async fn change_puc_project_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the version read and what to do with it.")] input: ChangePucProjectStateInput,
    ) -> GqlResult<PucProjectView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.projectId", "PucProject", &input.project_id)?;
        let step = match input.action {
            PucProjectAction::Publish => svc::ProjectStep::Publish,
            PucProjectAction::Close => svc::ProjectStep::Close,
            PucProjectAction::Cancel => svc::ProjectStep::Cancel,
        };
        svc::step_project(&a, id, input.version, step).await.gql()?;
        project(ctx, id).await
    }

    /// Case manager (members of its cases) or Responsabile PUC (its projects):
    /// proposes a member for a project. Refused without a vacancy for the source,
    /// with another active assignment, or with too short a residual benefit.
    #[graphql(visible = "crate::graphql::visibility::creates_puc_assignment")]
    async fn propose_puc_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the member to propose.")] input: ProposePucAssignmentInput,
    ) -> GqlResult<PucAssignmentView> {
        let a = acting(ctx)?;
        let pid = uuid_arg("input.projectId", "PucProject", &input.project_id)?;
        let mid = uuid_arg("input.memberId", "Member", &input.member_id)?;
        let id = svc::propose(&a, pid, mid, input.source.into()).await.gql()?;
        assignment(ctx, id).await
    }

    /// Centro per l'impiego: proposes one of its beneficiaries (a member bound to work activation, of a
    /// household with a case in the project's Comune), named by codice fiscale, for a CPI place of an
    /// active project. A codice fiscale of anyone else answers `NOT_FOUND`, as one GePI does not know;
    /// no free CPI place, another proposed or active assignment, or too few months of benefit left is
    /// `CONFLICT`.
    #[graphql(visible = "crate::graphql::visibility::proposes_cpi_beneficiary")]
    async fn propose_cpi_beneficiary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the beneficiary's codice fiscale.")] input: ProposeCpiBeneficiaryInput,
    ) -> GqlResult<PucAssignmentView> {
        let a = acting(ctx)?;
        let pid = uuid_arg("input.projectId", "PucProject", &input.project_id)?;
        let id = svc::propose_cpi(&a, pid, &input.fiscal_code).await.gql()?;
        assignment(ctx, id).await
    }

    /// Responsabile PUC: starts, completes or interrupts an assignment (exactly one).
    #[graphql(visible = "crate::graphql::visibility::updates_puc_assignment")]
    async fn step_puc_assignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assignment, the version read and the step to take.")] input: PucAssignmentStepInput,
    ) -> GqlResult<PucAssignmentView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.assignmentId", "PucAssignment", &input.assignment_id)?;
        let chosen =
            [input.start_on.is_some(), input.complete, input.interrupt.is_some()].iter().filter(|x| **x).count();
        if chosen != 1 {
            return Err(crate::error::AppError::validation(
                "input",
                "give exactly one of startOn, complete, interrupt",
            ))
            .gql();
        }
        let step = if let Some(on) = input.start_on {
            svc::AssignmentStep::Start { starts_on: on.0, inail_ref: input.inail_ref.unwrap_or_default() }
        } else if input.complete {
            svc::AssignmentStep::Complete
        } else {
            svc::AssignmentStep::Interrupt {
                reason: input.interrupt.expect("checked").into(),
                on: input.interrupted_on.map_or_else(crate::calendar::today, Into::into),
                raise_report: input.raise_report,
            }
        };
        svc::step_assignment(&a, id, input.version, step).await.gql()?;
        assignment(ctx, id).await
    }

    /// Responsabile PUC: records (or corrects) a day of the attendance register.
    #[graphql(visible = "crate::graphql::visibility::updates_puc_assignment")]
    async fn record_puc_attendance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The assignment, the day, the minutes and the attendance status.")]
        input: RecordPucAttendanceInput,
    ) -> GqlResult<PucAssignmentView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.assignmentId", "PucAssignment", &input.assignment_id)?;
        svc::record_attendance(&a, id, input.day.0, input.minutes, input.status.into(), input.note).await.gql()?;
        assignment(ctx, id).await
    }
}

/// Filters of `pucProjects`.
#[derive(InputObject, Default)]
pub struct PucProjectFilter {
    /// Only projects of this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::puc_project_comune")]
    pub comune: Option<String>,
    /// Only projects in this field of activity.
    #[graphql(visible = "crate::graphql::visibility::puc_project_field")]
    pub field: Option<PucFieldView>,
    /// Only projects in these states.
    #[graphql(visible = "crate::graphql::visibility::puc_project_state")]
    pub state: Option<Vec<PucProjectStateView>>,
    /// Only projects whose Responsabile PUC no longer holds a PUC-manager
    /// profile in force: work to reassign (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::puc_project_unassigned")]
    pub to_reassign: Option<bool>,
}

#[derive(Default)]
pub struct PucQuery;

#[Object]
impl PucQuery {
    /// PUC projects the viewer may see, by start date.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_puc_project"
    )]
    async fn puc_projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<PucProjectFilter>,
    ) -> GqlResult<Connection<PucProjectView>> {
        let f = project_filter(filter);
        page_of(ctx, |gw| lists::project_list(&gw.authz, f), &project_order(), (first, after), PucProjectView).await
    }

    /// One PUC project by id.
    #[graphql(visible = "crate::graphql::visibility::reads_puc_project")]
    async fn puc_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<PucProjectView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "PucProject", &id)?;
        Ok(Some(PucProjectView(
            by_id::<puc_project::Entity>(gw, puc_project::Column::Id, id, "PucProject").await.gql()?,
        )))
    }
}

/// The filter of the PUC project list, as the domain reads it.
fn project_filter(filter: Option<PucProjectFilter>) -> lists::PucProjectFilter {
    let f = filter.unwrap_or_default();
    lists::PucProjectFilter {
        comune: f.comune,
        field: f.field.map(Into::into),
        states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
        to_reassign: f.to_reassign,
    }
}

/// The order of the PUC project list: by start date.
fn project_order() -> crate::authz::gateway::SortKey<puc_project::Entity> {
    sort!(puc_project, StartsOn, Direction::Asc, |r: &puc_project::Model| r.starts_on)
}

/// `pucProjects`, compiled (see `api::compiled`).
pub(super) fn compiled_puc_projects(
    pl: &mut super::compiled::Planner<'_>,
    root: &super::compiled::Collected<'_>,
) -> super::compiled::RootPlan {
    super::compiled::list::<PucProjectView, PucProjectFilter>(
        pl,
        root,
        |f, gw| lists::project_list(&gw.authz, project_filter(f)),
        project_order(),
    )
}
