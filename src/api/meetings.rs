//! Root fields of meetings (the list, one by id, the calendar) and the meeting
//! mutations.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use entity::{meeting, office_slot};

use super::lists::{page_of, sort, DateRange};
use crate::graphql::scalars::{Date, Timestamp};
use crate::meetings::lists;
use crate::{
    api::views::{CaseView, MeetingView, OfficeSlotView},
    authz::gateway::Direction,
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::{ConvocationChannelView, MeetingKindView, MeetingStateView},
        node::by_id,
    },
};

/// Meetings and office availability over a date range, for a week or month view.
#[derive(SimpleObject)]
pub struct Calendar {
    /// Meetings in the range the viewer may see, in time order.
    pub meetings: Vec<MeetingView>,
    /// Office slots in the range, in time order, with whether a meeting already takes them.
    pub slots: Vec<CalendarSlot>,
}

/// An office slot of the calendar.
#[derive(SimpleObject)]
pub struct CalendarSlot {
    /// The slot.
    pub slot: OfficeSlotView,
    /// Whether a planned or convened meeting takes it.
    pub booked: bool,
}

/// Input of `planMeeting`.
#[derive(InputObject)]
pub struct PlanMeetingInput {
    /// The case whose household is met.
    pub case_id: ID,
    /// Kind of meeting (not a spontaneous presentation: that is recorded).
    pub kind: MeetingKindView,
    /// When; or give an office slot.
    pub starts_at: Option<Timestamp>,
    /// Duration in minutes (15-480); a slot brings its own.
    #[graphql(default = 60)]
    pub duration_minutes: i32,
    /// Where; a slot brings its own.
    pub place: Option<String>,
    /// An office slot of the case's Comune.
    pub slot_id: Option<ID>,
}

/// Input of `recordHeldMeeting`.
#[derive(InputObject)]
pub struct RecordHeldMeetingInput {
    /// The case whose household was met (past its first meeting).
    pub case_id: ID,
    /// Kind of meeting: `MONITORAGGIO_90GG`, `VERIFICA_PATTO` or `EQUIPE` (a first meeting has
    /// `recordFirstMeeting`).
    pub kind: MeetingKindView,
    /// When it began (in the past).
    pub held_at: Timestamp,
    /// Duration in minutes (15-480).
    #[graphql(default = 60)]
    pub duration_minutes: i32,
    /// Where.
    pub place: String,
    /// Who attended.
    pub attendees: Option<String>,
}

/// Input of `convokeMeeting`.
#[derive(InputObject)]
pub struct ConvokeMeetingInput {
    /// The meeting.
    pub meeting_id: ID,
    /// Its version.
    pub version: i32,
    /// Channel the convocation was sent through.
    pub channel: ConvocationChannelView,
    /// Reference of the convocation (SMS or e-mail id, registered mail number).
    pub reference: String,
}

/// Input of `rescheduleMeeting`.
#[derive(InputObject)]
pub struct RescheduleMeetingInput {
    /// The meeting.
    pub meeting_id: ID,
    /// Its version.
    pub version: i32,
    /// The new time.
    pub starts_at: Timestamp,
    /// The new duration, if it changes.
    pub duration_minutes: Option<i32>,
}

/// A meeting and its version.
#[derive(InputObject)]
pub struct MeetingVersionInput {
    /// The meeting.
    pub meeting_id: ID,
    /// Its version.
    pub version: i32,
}

/// How a meeting went.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MeetingOutcome {
    /// The meeting was held.
    Held,
    /// Absent with a justified reason (justification required).
    AbsentJustified,
    /// Absent without a justified reason: a segnalazione draft is raised.
    AbsentUnjustified,
}

/// Input of `recordMeetingOutcome`.
#[derive(InputObject)]
pub struct RecordMeetingOutcomeInput {
    /// The meeting.
    pub meeting_id: ID,
    /// Its version.
    pub version: i32,
    /// How it went.
    pub outcome: MeetingOutcome,
    /// Who attended.
    pub attendees: Option<String>,
    /// Justification of an absence.
    pub justification: Option<String>,
}

/// Input of `recordSpontaneousPresentation`.
#[derive(InputObject)]
pub struct SpontaneousPresentationInput {
    /// The case.
    pub case_id: ID,
    /// The case's version.
    pub version: i32,
    /// The day the household presented itself.
    pub held_on: Date,
    /// Where.
    pub place: String,
    /// Who came.
    pub attendees: Option<String>,
}

use crate::graphql::context::acting;

async fn done(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<MeetingView> {
    Ok(MeetingView(by_id::<meeting::Entity>(gateway(ctx)?, meeting::Column::Id, id, "Meeting").await.gql()?))
}

/// Filters of `meetings`.
#[derive(InputObject, Default)]
pub struct MeetingFilter {
    /// Only meetings in these states.
    #[graphql(visible = "crate::graphql::visibility::meeting_state")]
    pub state: Option<Vec<MeetingStateView>>,
    /// Only meetings at the office of this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::meeting_comune")]
    pub comune: Option<String>,
    /// Only meetings scheduled in this range.
    #[graphql(visible = "crate::graphql::visibility::meeting_scheduled")]
    pub scheduled: Option<DateRange>,
}

#[derive(Default)]
pub struct MeetingQuery;

#[Object]
impl MeetingQuery {
    /// Meetings the viewer may see, in calendar order.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_meeting"
    )]
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<MeetingFilter>,
    ) -> GqlResult<Connection<MeetingView>> {
        let f = meeting_filter(filter);
        page_of(ctx, |gw| lists::meeting_list(&gw.authz, f), &meeting_order(), (first, after), MeetingView).await
    }

    /// One meeting by id.
    #[graphql(visible = "crate::graphql::visibility::reads_meeting")]
    async fn meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<MeetingView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "Meeting", &id)?;
        Ok(Some(MeetingView(by_id::<meeting::Entity>(gw, meeting::Column::Id, id, "Meeting").await.gql()?)))
    }

    /// The calendar over [from, to] (at most 92 days), for a Comune or an operator.
    #[graphql(
        visible = "crate::graphql::visibility::reads_meeting",
        complexity = "crate::graphql::limits::calendar_cost(child_complexity)"
    )]
    async fn calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First day of the period (Italian calendar).")] from: Date,
        #[graphql(desc = "Last day of the period, at most 92 days after `from`.")] to: Date,
        #[graphql(desc = "ISTAT code of the Comune whose calendar to show (one of the profile's).")] comune: Option<
            String,
        >,
        #[graphql(desc = "The operator whose calendar to show (default: the caller).")] operator_id: Option<ID>,
    ) -> GqlResult<Calendar> {
        let gw = gateway(ctx)?;
        let operator = operator_id.map(|o| uuid_arg("operatorId", "Operator", &o)).transpose()?;
        let c = lists::calendar(gw, (from.0, to.0), comune, operator).await.gql()?;
        let slots = c.slots.into_iter().map(|(s, booked)| CalendarSlot { booked, slot: OfficeSlotView(s) }).collect();
        Ok(Calendar { meetings: c.meetings.into_iter().map(MeetingView).collect(), slots })
    }
}

/// An office slot to publish.
#[derive(InputObject)]
pub struct OfficeSlotInput {
    /// Start.
    pub starts_at: Timestamp,
    /// End (at most 8 hours after the start).
    pub ends_at: Timestamp,
    /// Where.
    pub place: String,
}

/// Input of `createOfficeSlots`.
#[derive(InputObject)]
pub struct CreateOfficeSlotsInput {
    /// The Comune (ISTAT code), one of the profile's.
    pub comune_istat: String,
    /// The slots (1-200).
    pub slots: Vec<OfficeSlotInput>,
}

#[derive(Default)]
pub struct MeetingMutation;

#[Object]
impl MeetingMutation {
    /// Case manager (own cases) or meeting registrar (its Comuni): plans a meeting
    /// with the household of a case. Double booking of the operator or of an office
    /// slot is refused.
    #[graphql(visible = "crate::graphql::visibility::creates_meeting")]
    async fn plan_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the kind of meeting, and when and where (a time and place, or an office slot).")]
        input: PlanMeetingInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let case_id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let slot_id = input.slot_id.as_ref().map(|s| uuid_arg("input.slotId", "OfficeSlot", s)).transpose()?;
        let p = crate::meetings::service::Plan {
            kind: input.kind.into(),
            starts_at: input.starts_at.map(Into::into),
            duration_minutes: input.duration_minutes,
            place: input.place,
            slot_id,
        };
        let id = crate::meetings::service::plan(&a, case_id, p).await.gql()?;
        done(ctx, id).await
    }

    /// Case manager (own cases) or meeting registrar (its Comuni): records a meeting
    /// held and not planned in GePI, after the fact (a 90-day update the household
    /// came to, a verification of the pact). It is `SVOLTO`, and the case's last
    /// meeting when it is the latest.
    #[graphql(visible = "crate::graphql::visibility::creates_meeting")]
    async fn record_held_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the kind of meeting, when it began, how long, where and who attended.")]
        input: RecordHeldMeetingInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let case_id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let h = crate::meetings::service::HeldMeeting {
            kind: input.kind.into(),
            held_at: input.held_at.into(),
            duration_minutes: input.duration_minutes,
            place: input.place,
            attendees: input.attendees,
        };
        let id = crate::meetings::service::record_held_meeting(&a, case_id, h).await.gql()?;
        done(ctx, id).await
    }

    /// Meeting registrar: publishes office availability of one of its Comuni.
    #[graphql(visible = "crate::graphql::visibility::creates_office_slot")]
    async fn create_office_slots(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Comune and the slots to publish.")] input: CreateOfficeSlotsInput,
    ) -> GqlResult<Vec<OfficeSlotView>> {
        let a = acting(ctx)?;
        let slots = input
            .slots
            .into_iter()
            .map(|s| crate::meetings::service::NewSlot {
                starts_at: s.starts_at.0,
                ends_at: s.ends_at.0,
                place: s.place,
            })
            .collect();
        let ids = crate::meetings::service::create_slots(&a, &input.comune_istat, slots).await.gql()?;
        let gw = gateway(ctx)?;
        let rows = gw
            .by_keys::<office_slot::Entity, uuid::Uuid>(
                office_slot::Column::Id,
                &ids,
                Some(office_slot::Column::StartsAt),
            )
            .await
            .gql()?;
        Ok(rows.into_iter().map(OfficeSlotView).collect())
    }

    /// Records the convocation sent; the case becomes CONVOCATO.
    #[graphql(visible = "crate::graphql::visibility::updates_meeting")]
    async fn convoke_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The meeting, the version read and how the household was convened.")]
        input: ConvokeMeetingInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.meetingId", "Meeting", &input.meeting_id)?;
        crate::meetings::service::convoke(&a, id, input.version, input.channel.into(), input.reference).await.gql()?;
        done(ctx, id).await
    }

    /// Moves a meeting; it needs a new convocation.
    #[graphql(visible = "crate::graphql::visibility::updates_meeting")]
    async fn reschedule_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The meeting, the version read and the new time.")] input: RescheduleMeetingInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.meetingId", "Meeting", &input.meeting_id)?;
        crate::meetings::service::reschedule(&a, id, input.version, input.starts_at.0, input.duration_minutes)
            .await
            .gql()?;
        done(ctx, id).await
    }

    /// Cancels a planned or convened meeting.
    #[graphql(visible = "crate::graphql::visibility::updates_meeting")]
    async fn cancel_meeting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The meeting and the version read.")] input: MeetingVersionInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.meetingId", "Meeting", &input.meeting_id)?;
        crate::meetings::service::cancel(&a, id, input.version).await.gql()?;
        done(ctx, id).await
    }

    /// Records how a meeting went.
    #[graphql(visible = "crate::graphql::visibility::updates_meeting")]
    async fn record_meeting_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The meeting, the version read and what happened.")] input: RecordMeetingOutcomeInput,
    ) -> GqlResult<MeetingView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.meetingId", "Meeting", &input.meeting_id)?;
        let outcome = match input.outcome {
            MeetingOutcome::Held => crate::meetings::service::Outcome::Held,
            MeetingOutcome::AbsentJustified => crate::meetings::service::Outcome::AbsentJustified,
            MeetingOutcome::AbsentUnjustified => crate::meetings::service::Outcome::AbsentUnjustified,
        };
        crate::meetings::service::record_outcome(&a, id, input.version, outcome, input.attendees, input.justification)
            .await
            .gql()?;
        done(ctx, id).await
    }

    /// Meeting registrar: the household presented itself spontaneously; it counts as
    /// the case's first meeting.
    #[graphql(visible = "crate::graphql::visibility::creates_meeting")]
    async fn record_spontaneous_presentation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case, the day the household came and what was done.")]
        input: SpontaneousPresentationInput,
    ) -> GqlResult<CaseView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.caseId", "Case", &input.case_id)?;
        let m = crate::meetings::service::FirstMeeting {
            held_on: input.held_on.0,
            spontaneous: true,
            place: input.place,
            attendees: input.attendees,
        };
        crate::meetings::service::record_first_meeting(
            &a,
            id,
            input.version,
            m,
            crate::meetings::service::Recorder::Registrar,
        )
        .await
        .gql()?;
        let gw = gateway(ctx)?;
        Ok(CaseView(by_id::<entity::case_file::Entity>(gw, entity::case_file::Column::Id, id, "Case").await.gql()?))
    }
}

/// The filter of the meeting list, as the domain reads it.
fn meeting_filter(filter: Option<MeetingFilter>) -> lists::MeetingFilter {
    let f = filter.unwrap_or_default();
    lists::MeetingFilter {
        states: f.state.map(|v| v.into_iter().map(Into::into).collect()),
        comune: f.comune,
        scheduled: f.scheduled.map(Into::into),
    }
}

/// The order of the meeting list: calendar order.
fn meeting_order() -> crate::authz::gateway::SortKey<meeting::Entity> {
    sort!(meeting, ScheduledAt, Direction::Asc, |r: &meeting::Model| r.scheduled_at)
}

/// `meetings`, compiled (see `api::compiled`).
pub(super) fn compiled_meetings(
    pl: &mut super::compiled::Planner<'_>,
    root: &super::compiled::Collected<'_>,
) -> super::compiled::RootPlan {
    super::compiled::list::<MeetingView, MeetingFilter>(
        pl,
        root,
        |f, gw| lists::meeting_list(&gw.authz, meeting_filter(f)),
        meeting_order(),
    )
}
