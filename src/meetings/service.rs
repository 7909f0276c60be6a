//! Use cases of meetings.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{case_file, enums::*, meeting, office_slot};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait,
    QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::unscoped::Unscoped;
use crate::{
    audit::AuditEntry,
    authz::{Action, Object},
    cases::{
        model::{case_allows, CaseAction},
        service::{apply_first_meeting, case_under, date_between, refuse_case},
    },
    error::AppError,
    reports::service::{insert_report, ReportDraft},
    workflow::{bump_version, check_version, compare_and_set, diff, opt_text, text, Acting},
};

/// The Italian calendar day of an instant.
fn local_day(t: DateTime<Utc>) -> chrono::NaiveDate {
    t.with_timezone(&chrono_tz::Europe::Rome).date_naive()
}

fn allowed(s: MeetingState) -> &'static str {
    use MeetingState::*;
    match s {
        Pianificato => "convokeMeeting, rescheduleMeeting, cancelMeeting, recordMeetingOutcome",
        Convocato => "rescheduleMeeting, cancelMeeting, recordMeetingOutcome",
        AssenteGiustificato => "rescheduleMeeting",
        Svolto | Valutato | AssenteIngiustificato | Annullato => "nothing",
    }
}

fn refuse(m: &meeting::Model, action: &str) -> AppError {
    AppError::Conflict(format!(
        "{action} is not allowed: the meeting is {}; allowed now: {}",
        crate::codes::code(m.state),
        allowed(m.state)
    ))
}

/// A meeting of the same operator overlapping [start, start + minutes) refuses the booking.
async fn check_free(
    txn: &DatabaseTransaction,
    operator: Uuid,
    start: DateTime<Utc>,
    minutes: i32,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    let end = start + Duration::minutes(minutes as i64);
    // Candidates starting within a day before; overlap is checked in Rust
    // (durations differ per meeting).
    let mut q = Unscoped::Rule
        .find::<meeting::Entity>()
        .filter(meeting::Column::OperatorId.eq(operator))
        .filter(meeting::Column::State.is_in([MeetingState::Pianificato, MeetingState::Convocato]))
        .filter(meeting::Column::ScheduledAt.gt(start - Duration::hours(24)))
        .filter(meeting::Column::ScheduledAt.lt(end));
    if let Some(id) = except {
        q = q.filter(meeting::Column::Id.ne(id));
    }
    for other in q.all(txn).await? {
        let o_end = other.scheduled_at + Duration::minutes(other.duration_minutes as i64);
        if other.scheduled_at < end && start < o_end {
            return Err(AppError::Conflict(format!(
                "the operator already has a meeting from {} to {}: double booking refused",
                other.scheduled_at.format("%Y-%m-%d %H:%M"),
                o_end.format("%H:%M")
            )));
        }
    }
    Ok(())
}

/// What a new meeting is.
pub struct Plan {
    pub kind: MeetingKind,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: i32,
    pub place: Option<String>,
    pub slot_id: Option<Uuid>,
}

/// Case manager (own cases) or registrar (cases of its Comuni): plans a meeting
/// with the household of a case, at a time or in an office slot.
pub async fn plan(a: &Acting<'_>, case_id: Uuid, p: Plan) -> Result<Uuid, AppError> {
    let me = a.me()?;
    if p.kind == MeetingKind::PresentazioneSpontanea {
        return Err(AppError::validation(
            "input.kind",
            "a spontaneous presentation is recorded, not planned (recordSpontaneousPresentation)",
        ));
    }
    if !(15..=480).contains(&p.duration_minutes) {
        return Err(AppError::validation("input.durationMinutes", "between 15 and 480 minutes"));
    }
    let txn = a.begin().await?;
    let scope = a.gw.authz.scope_for(Object::Meeting, Action::Create)?;
    let c = case_under(a, &txn, case_id, scope).await?;
    if matches!(c.state, CaseState::DaAssegnare | CaseState::Chiuso | CaseState::Trasferito) {
        return Err(AppError::Conflict(format!(
            "planMeeting is not allowed: the case is {}; meetings are planned for assigned, open cases",
            crate::codes::code(c.state)
        )));
    }
    let (start, place, minutes) = match p.slot_id {
        Some(slot) => {
            let s = a
                .named::<office_slot::Entity>(&txn, (office_slot::Column::Id, slot), "input.slotId", "office slot")
                .await?;
            if s.comune_istat != c.comune_istat {
                return Err(AppError::validation("input.slotId", "the office slot is not in the case's Comune"));
            }
            let taken = Unscoped::Rule
                .find::<meeting::Entity>()
                .filter(meeting::Column::ComuneIstat.eq(s.comune_istat.clone()))
                .filter(meeting::Column::ScheduledAt.eq(s.starts_at))
                .filter(meeting::Column::Place.eq(s.place.clone()))
                .filter(meeting::Column::State.is_in([MeetingState::Pianificato, MeetingState::Convocato]))
                .one(&txn)
                .await?;
            if taken.is_some() {
                return Err(AppError::Conflict("the office slot is already booked: double booking refused".into()));
            }
            (s.starts_at, s.place, (s.ends_at - s.starts_at).num_minutes() as i32)
        }
        None => {
            let start =
                p.starts_at.ok_or_else(|| AppError::validation("input.startsAt", "give a time or an office slot"))?;
            let place = text("input.place", p.place.as_deref().unwrap_or(""), 200)?;
            (start, place, p.duration_minutes)
        }
    };
    if start < Utc::now() {
        return Err(AppError::validation("input.startsAt", "a meeting is planned in the future"));
    }
    if start > Utc::now() + Duration::days(366) {
        return Err(AppError::validation("input.startsAt", "at most a year ahead"));
    }
    let operator = c.case_manager_id.unwrap_or(me);
    check_free(&txn, operator, start, minutes, None).await?;
    let new = NewMeeting {
        kind: p.kind,
        state: MeetingState::Pianificato,
        operator,
        at: start,
        minutes,
        place,
        attendees: None,
        recorded_by: None,
    };
    let id = insert_meeting(&txn, &c, new).await?;
    let mut e = AuditEntry::new("meeting", id, AuditAction::Create);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(json!({ "case_id": c.id, "kind": p.kind, "scheduled_at": start, "operator_id": operator }));
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// A new meeting with the household of a case: planned, or already held (a
/// first meeting recorded after the fact).
struct NewMeeting {
    kind: MeetingKind,
    state: MeetingState,
    operator: Uuid,
    at: DateTime<Utc>,
    minutes: i32,
    place: String,
    attendees: Option<String>,
    recorded_by: Option<Uuid>,
}

/// Inserts `m` for the case `c` (its Ambito, Comune and household) at version 1.
async fn insert_meeting(txn: &DatabaseTransaction, c: &case_file::Model, m: NewMeeting) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    meeting::ActiveModel {
        id: Set(id),
        ambito_id: Set(c.ambito_id),
        comune_istat: Set(c.comune_istat.clone()),
        case_id: Set(Some(c.id)),
        household_id: Set(Some(c.household_id)),
        operator_id: Set(Some(m.operator)),
        kind: Set(m.kind),
        state: Set(m.state),
        scheduled_at: Set(m.at),
        duration_minutes: Set(m.minutes),
        place: Set(m.place),
        convocation_channel: Set(None),
        convocation_ref: Set(None),
        attendees: Set(m.attendees),
        justification: Set(None),
        recorded_by: Set(m.recorded_by),
        recorded_at: Set(m.recorded_by.map(|_| now)),
        version: Set(1),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(id)
}

/// A first meeting to record, held on a past day.
pub struct FirstMeeting {
    pub held_on: NaiveDate,
    pub spontaneous: bool,
    pub place: String,
    pub attendees: Option<String>,
}

/// Who records a first meeting: the case manager on its own cases, or the
/// meeting registrar (a spontaneous presentation) on the cases of its Comuni.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    CaseManager,
    Registrar,
}

/// Case manager: records the first meeting (or the household's spontaneous
/// presentation); the case moves to the Analisi preliminare, opened as a draft.
/// The meeting registrar records spontaneous presentations the same way.
pub async fn record_first_meeting(
    a: &Acting<'_>,
    case_id: Uuid,
    version: i32,
    m: FirstMeeting,
    by: Recorder,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let place = text("input.place", &m.place, 200)?;
    let attendees = opt_text("input.attendees", m.attendees.as_deref(), 1000)?;
    let txn = a.begin().await?;
    let c = match by {
        Recorder::CaseManager => a.case(&txn, case_id, Action::Update).await?,
        Recorder::Registrar => {
            let scope = a.gw.authz.scope_for(crate::authz::Object::Meeting, Action::Create)?;
            case_under(a, &txn, case_id, scope).await?
        }
    };
    check_version("case", c.version, version)?;
    if !case_allows(c.state, CaseAction::RecordFirstMeeting) {
        return Err(refuse_case(&c, CaseAction::RecordFirstMeeting));
    }
    date_between("input.heldOn", m.held_on, c.pad_date, "the PAD")?;
    let spontaneous = m.spontaneous || by == Recorder::Registrar;
    let at = m.held_on.and_hms_opt(9, 0, 0).expect("valid time").and_utc();
    let meeting_id = insert_meeting(
        &txn,
        &c,
        NewMeeting {
            kind: if spontaneous { MeetingKind::PresentazioneSpontanea } else { MeetingKind::Convocazione },
            state: MeetingState::Svolto,
            operator: me,
            at,
            minutes: 60,
            place,
            attendees,
            recorded_by: Some(me),
        },
    )
    .await?;
    let mut entries = vec![{
        let mut e = AuditEntry::new("meeting", meeting_id, AuditAction::Create);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(json!({ "case_id": c.id, "held_on": m.held_on, "spontaneous": spontaneous }));
        e
    }];
    entries.extend(apply_first_meeting(&txn, &c, m.held_on, meeting_id).await?);
    txn.commit(entries).await?;
    Ok(c.id)
}

/// A meeting held and not planned in GePI (a 90-day check, a verification of the
/// pact), recorded afterwards.
pub struct HeldMeeting {
    pub kind: MeetingKind,
    pub held_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub place: String,
    pub attendees: Option<String>,
}

/// Case manager (own cases) or registrar (cases of its Comuni): records a meeting
/// held with the household of a case past its first meeting, as the first one
/// can be recorded after the fact. It counts as the case's last meeting (the
/// 90-day update) when it is the latest.
pub async fn record_held_meeting(a: &Acting<'_>, case_id: Uuid, h: HeldMeeting) -> Result<Uuid, AppError> {
    let me = a.me()?;
    if h.kind == MeetingKind::PresentazioneSpontanea || h.kind == MeetingKind::Convocazione {
        return Err(AppError::validation(
            "input.kind",
            "a first meeting is recorded with recordFirstMeeting (or recordSpontaneousPresentation)",
        ));
    }
    if !(15..=480).contains(&h.duration_minutes) {
        return Err(AppError::validation("input.durationMinutes", "between 15 and 480 minutes"));
    }
    let place = text("input.place", &h.place, 200)?;
    let attendees = opt_text("input.attendees", h.attendees.as_deref(), 1000)?;
    if h.held_at > Utc::now() {
        return Err(AppError::validation("input.heldAt", "a held meeting is in the past: plan a future one"));
    }
    let txn = a.begin().await?;
    let scope = a.gw.authz.scope_for(Object::Meeting, Action::Create)?;
    let c = case_under(a, &txn, case_id, scope).await?;
    use CaseState::*;
    if !matches!(c.state, ApInCorso | QdaInCorso | PattoInDefinizione | InviatoAltroServizio | InMonitoraggio) {
        return Err(AppError::Conflict(format!(
            "recordHeldMeeting is not allowed: the case is {}; a meeting held after the first one is recorded on \
             open cases past their first meeting (the first one: recordFirstMeeting)",
            crate::codes::code(c.state)
        )));
    }
    let held_on = local_day(h.held_at);
    if let Some(first) = c.first_meeting_on.filter(|first| held_on < *first) {
        return Err(AppError::validation("input.heldAt", format!("must not be before the first meeting ({first})")));
    }
    let operator = c.case_manager_id.unwrap_or(me);
    let id = insert_meeting(
        &txn,
        &c,
        NewMeeting {
            kind: h.kind,
            state: MeetingState::Svolto,
            operator,
            at: h.held_at,
            minutes: h.duration_minutes,
            place,
            attendees,
            recorded_by: Some(me),
        },
    )
    .await?;
    let mut entries = vec![{
        let mut e = AuditEntry::new("meeting", id, AuditAction::Create);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(json!({ "case_id": c.id, "kind": h.kind, "held_on": held_on, "state": MeetingState::Svolto }));
        e
    }];
    entries.extend(held_on_counts(&txn, &c, held_on).await?);
    txn.commit(entries).await?;
    Ok(id)
}

/// A meeting held on `held_on` is the case's last meeting when none later was
/// recorded (the 90-day update counts from it).
async fn held_on_counts(
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    held_on: NaiveDate,
) -> Result<Option<AuditEntry>, AppError> {
    let changed = bump_version::<case_file::Model>(case_file::Entity::update_many())
        .col_expr(case_file::Column::LastMeetingOn, Expr::value(held_on))
        .filter(case_file::Column::Id.eq(c.id))
        .filter(
            Condition::any()
                .add(case_file::Column::LastMeetingOn.is_null())
                .add(case_file::Column::LastMeetingOn.lt(held_on)),
        )
        .exec(txn)
        .await?
        .rows_affected;
    Ok((changed > 0).then(|| {
        let mut e = AuditEntry::new("case_file", c.id, AuditAction::Update);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(diff(&[("last_meeting_on", json!(c.last_meeting_on), json!(held_on))]));
        e
    }))
}

async fn load(a: &Acting<'_>, txn: &DatabaseTransaction, id: Uuid) -> Result<meeting::Model, AppError> {
    a.load::<meeting::Entity>(txn, meeting::Column::Id, id, Action::Update, ("input.meetingId", "meeting")).await
}

async fn update(
    txn: &DatabaseTransaction,
    m: &meeting::Model,
    set: impl FnOnce(sea_orm::UpdateMany<meeting::Entity>) -> sea_orm::UpdateMany<meeting::Entity>,
) -> Result<(), AppError> {
    let q = set(meeting::Entity::update_many());
    compare_and_set(txn, m, q).await
}

fn entry(m: &meeting::Model, action: AuditAction, changes: serde_json::Value) -> AuditEntry {
    let mut e = AuditEntry::new("meeting", m.id, action);
    e.ambito_id = Some(m.ambito_id);
    e.changes = Some(changes);
    e
}

/// Records the convocation sent (channel and reference); the case is CONVOCATO.
pub async fn convoke(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    channel: ConvocationChannel,
    reference: String,
) -> Result<Uuid, AppError> {
    let reference = text("input.reference", &reference, 200)?;
    let txn = a.begin().await?;
    let m = load(a, &txn, id).await?;
    check_version("meeting", m.version, version)?;
    if m.state != MeetingState::Pianificato {
        return Err(refuse(&m, "convokeMeeting"));
    }
    update(&txn, &m, |q| {
        q.col_expr(meeting::Column::State, Expr::value(MeetingState::Convocato))
            .col_expr(meeting::Column::ConvocationChannel, Expr::value(channel))
            .col_expr(meeting::Column::ConvocationRef, Expr::value(reference))
    })
    .await?;
    let mut entries = vec![entry(
        &m,
        AuditAction::Transition,
        diff(&[
            ("state", json!(m.state), json!(MeetingState::Convocato)),
            ("convocation_channel", json!(null), json!(channel)),
        ]),
    )];
    if let Some(case_id) = m.case_id {
        let res = bump_version::<case_file::Model>(case_file::Entity::update_many())
            .col_expr(case_file::Column::State, Expr::value(CaseState::Convocato))
            .filter(case_file::Column::Id.eq(case_id))
            .filter(case_file::Column::State.eq(CaseState::Assegnato))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            let mut e = AuditEntry::new("case_file", case_id, AuditAction::Transition);
            e.ambito_id = Some(m.ambito_id);
            e.changes = Some(diff(&[("state", json!(CaseState::Assegnato), json!(CaseState::Convocato))]));
            entries.push(e);
        }
    }
    txn.commit(entries).await?;
    Ok(id)
}

/// Moves a meeting (back to PIANIFICATO: a new convocation is needed).
pub async fn reschedule(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    starts_at: DateTime<Utc>,
    minutes: Option<i32>,
) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let m = load(a, &txn, id).await?;
    check_version("meeting", m.version, version)?;
    if !matches!(m.state, MeetingState::Pianificato | MeetingState::Convocato | MeetingState::AssenteGiustificato) {
        return Err(refuse(&m, "rescheduleMeeting"));
    }
    if starts_at < Utc::now() {
        return Err(AppError::validation("input.startsAt", "a meeting is planned in the future"));
    }
    let minutes = minutes.unwrap_or(m.duration_minutes);
    if !(15..=480).contains(&minutes) {
        return Err(AppError::validation("input.durationMinutes", "between 15 and 480 minutes"));
    }
    if let Some(op) = m.operator_id {
        check_free(&txn, op, starts_at, minutes, Some(m.id)).await?;
    }
    update(&txn, &m, |q| {
        q.col_expr(meeting::Column::ScheduledAt, Expr::value(starts_at))
            .col_expr(meeting::Column::DurationMinutes, Expr::value(minutes))
            .col_expr(meeting::Column::State, Expr::value(MeetingState::Pianificato))
            .col_expr(meeting::Column::ConvocationChannel, Expr::value(Option::<ConvocationChannel>::None))
            .col_expr(meeting::Column::ConvocationRef, Expr::value(Option::<String>::None))
    })
    .await?;
    let e = entry(
        &m,
        AuditAction::Update,
        diff(&[
            ("scheduled_at", json!(m.scheduled_at), json!(starts_at)),
            ("state", json!(m.state), json!(MeetingState::Pianificato)),
        ]),
    );
    txn.commit(vec![e]).await?;
    Ok(id)
}

pub async fn cancel(a: &Acting<'_>, id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let m = load(a, &txn, id).await?;
    check_version("meeting", m.version, version)?;
    if !matches!(m.state, MeetingState::Pianificato | MeetingState::Convocato) {
        return Err(refuse(&m, "cancelMeeting"));
    }
    update(&txn, &m, |q| q.col_expr(meeting::Column::State, Expr::value(MeetingState::Annullato))).await?;
    let e = entry(&m, AuditAction::Transition, diff(&[("state", json!(m.state), json!(MeetingState::Annullato))]));
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// How a meeting went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Held,
    AbsentJustified,
    AbsentUnjustified,
}

/// Records the outcome. Held: the case's last meeting (and its first, when it is
/// one). Absent without justified reason: a segnalazione draft for the case
/// manager to submit to the coordinator.
pub async fn record_outcome(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    outcome: Outcome,
    attendees: Option<String>,
    justification: Option<String>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let attendees = opt_text("input.attendees", attendees.as_deref(), 1000)?;
    let justification = opt_text("input.justification", justification.as_deref(), 2000)?;
    if outcome == Outcome::AbsentJustified && justification.is_none() {
        return Err(AppError::validation("input.justification", "record the justification of the absence"));
    }
    let txn = a.begin().await?;
    let m = load(a, &txn, id).await?;
    check_version("meeting", m.version, version)?;
    if !matches!(m.state, MeetingState::Pianificato | MeetingState::Convocato) {
        return Err(refuse(&m, "recordMeetingOutcome"));
    }
    // What happened at a meeting is known once it has begun, not on the morning of its day.
    if m.scheduled_at > Utc::now() {
        return Err(AppError::Conflict(format!(
            "recordMeetingOutcome is not allowed before the meeting starts ({} UTC)",
            m.scheduled_at.format("%Y-%m-%d %H:%M")
        )));
    }
    if outcome == Outcome::AbsentUnjustified && m.state != MeetingState::Convocato {
        return Err(AppError::Conflict(
            "an absence without justified reason needs a convocation (the meeting is PIANIFICATO)".into(),
        ));
    }
    let state = match outcome {
        Outcome::Held => MeetingState::Svolto,
        Outcome::AbsentJustified => MeetingState::AssenteGiustificato,
        Outcome::AbsentUnjustified => MeetingState::AssenteIngiustificato,
    };
    let now = Utc::now();
    update(&txn, &m, |q| {
        q.col_expr(meeting::Column::State, Expr::value(state))
            .col_expr(meeting::Column::Attendees, Expr::value(attendees))
            .col_expr(meeting::Column::Justification, Expr::value(justification.clone()))
            .col_expr(meeting::Column::RecordedBy, Expr::value(me))
            .col_expr(meeting::Column::RecordedAt, Expr::value(now))
    })
    .await?;
    let mut entries = vec![entry(&m, AuditAction::Transition, diff(&[("state", json!(m.state), json!(state))]))];
    if let Some(case_id) = m.case_id {
        let c = Unscoped::Child
            .find_by_id::<case_file::Entity>(case_id)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::internal("meeting of a missing case"))?;
        let held_on = local_day(m.scheduled_at);
        match outcome {
            Outcome::Held if matches!(c.state, CaseState::Assegnato | CaseState::Convocato) => {
                entries.extend(apply_first_meeting(&txn, &c, held_on, m.id).await?);
            }
            Outcome::Held => entries.extend(held_on_counts(&txn, &c, held_on).await?),
            Outcome::AbsentUnjustified => {
                let rid = insert_report(
                    &txn,
                    ReportDraft {
                        ambito_id: c.ambito_id,
                        comune_istat: c.comune_istat.clone(),
                        case_id: Some(c.id),
                        residency_check_id: None,
                        puc_assignment_id: None,
                        member_id: None,
                        kind: ReportKind::MancataPresentazione,
                        state: ReportState::Bozza,
                        fact_date: held_on,
                        description: "Assenza all'incontro convocato senza giustificato motivo.".into(),
                        created_by: me,
                        rectification_of: None,
                        annuls: false,
                        override_reason: None,
                    },
                )
                .await?;
                let mut e = AuditEntry::new("report", rid, AuditAction::Create);
                e.ambito_id = Some(c.ambito_id);
                e.changes = Some(
                    json!({ "case_id": c.id, "kind": ReportKind::MancataPresentazione, "state": ReportState::Bozza, "meeting_id": m.id }),
                );
                entries.push(e);
            }
            Outcome::AbsentJustified => {}
        }
    }
    txn.commit(entries).await?;
    Ok(id)
}

/// An office slot to publish.
pub struct NewSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub place: String,
}

/// Meeting registrar: publishes office availability of one of its Comuni.
/// Slots of the same place may not overlap each other or existing ones.
pub async fn create_slots(a: &Acting<'_>, comune_istat: &str, slots: Vec<NewSlot>) -> Result<Vec<Uuid>, AppError> {
    let scope = a.gw.authz.scope_for(Object::OfficeSlot, Action::Create)?;
    let code = crate::territory::model::IstatCode::parse_at("input.comuneIstat", comune_istat)?;
    let p = &a.gw.authz.principal;
    let mine = match scope {
        crate::authz::Scope::National => true,
        _ => p.comuni.contains(&code),
    };
    if !mine {
        return Err(AppError::Forbidden(format!("the Comune {code} is not one of the profile's")));
    }
    if slots.is_empty() || slots.len() > 200 {
        return Err(AppError::validation("input.slots", "between 1 and 200 slots"));
    }
    let mut checked: Vec<(DateTime<Utc>, DateTime<Utc>, String)> = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        let place = text(&format!("input.slots[{i}].place"), &s.place, 200)?;
        if s.ends_at <= s.starts_at || s.ends_at - s.starts_at > Duration::hours(8) {
            return Err(AppError::validation(
                format!("input.slots[{i}].endsAt"),
                "after the start, at most 8 hours later",
            ));
        }
        if s.starts_at < Utc::now() || s.starts_at > Utc::now() + Duration::days(366) {
            return Err(AppError::validation(format!("input.slots[{i}].startsAt"), "within the next year"));
        }
        if checked.iter().any(|(f, t, pl)| *pl == place && s.starts_at < *t && *f < s.ends_at) {
            return Err(AppError::validation(
                format!("input.slots[{i}].startsAt"),
                "overlaps another slot of the same place",
            ));
        }
        checked.push((s.starts_at, s.ends_at, place));
    }
    let txn = a.begin().await?;
    let min = checked.iter().map(|c| c.0).min().expect("non-empty");
    let max = checked.iter().map(|c| c.1).max().expect("non-empty");
    let existing = Unscoped::Rule
        .find::<office_slot::Entity>()
        .filter(office_slot::Column::ComuneIstat.eq(code.as_str()))
        .filter(office_slot::Column::StartsAt.lt(max))
        .filter(office_slot::Column::EndsAt.gt(min))
        .all(&txn)
        .await?;
    for (i, (f, t, pl)) in checked.iter().enumerate() {
        if existing.iter().any(|e| e.place == *pl && *f < e.ends_at && e.starts_at < *t) {
            return Err(AppError::Conflict(format!("input.slots[{i}] overlaps a published slot of the same place")));
        }
    }
    let comune =
        Unscoped::Reference
            .find_by_id::<entity::comune::Entity>(code.as_str().to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::validation("input.comuneIstat", format!("no Comune with ISTAT code {code}")))?;
    let mut ids = Vec::new();
    let mut entries = Vec::new();
    for (f, t, place) in checked {
        let id = Uuid::now_v7();
        office_slot::ActiveModel {
            id: Set(id),
            comune_istat: Set(comune.istat_code.clone()),
            starts_at: Set(f),
            ends_at: Set(t),
            place: Set(place),
            operator_id: Set(None),
        }
        .insert(&txn)
        .await?;
        let mut e = AuditEntry::new("office_slot", id, AuditAction::Create);
        e.ambito_id = Some(comune.ambito_id);
        e.changes = Some(json!({ "comune_istat": comune.istat_code, "starts_at": f, "ends_at": t }));
        entries.push(e);
        ids.push(id);
    }
    txn.commit(entries).await?;
    Ok(ids)
}
