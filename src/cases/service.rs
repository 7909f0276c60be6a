//! Case workflow use cases. Each runs in one transaction: it loads its rows under
//! the principal's scope for the action (out of scope == not found), checks the
//! client's version (optimistic concurrency), asks the state machine, writes, and
//! appends the audit events with the before/after of the changed fields. Bad
//! input is refused before anything is written.

use chrono::{NaiveDate, Utc};
use entity::{analysis_framework, case_file, enums::*, member, operator, preliminary_analysis, profile, report};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::model::*;
use crate::calendar::today;
pub use crate::workflow::Acting;
use crate::workflow::{check_version, compare_and_set, diff, opt_text, text};
use crate::{
    audit::AuditEntry,
    authz::Action,
    error::AppError,
    operators::service::profile_in_force,
    reports::service::{insert_report, ReportDraft},
};
use crate::{authz::find_under, unscoped::Unscoped};

/// Case-specific lookups of the use-case kernel.
impl Acting<'_> {
    pub(crate) async fn case(
        &self,
        txn: &DatabaseTransaction,
        id: Uuid,
        action: Action,
    ) -> Result<case_file::Model, AppError> {
        self.load::<case_file::Entity>(txn, case_file::Column::Id, id, action, ("input.caseId", "case")).await
    }
}

pub(crate) fn refuse_case(c: &case_file::Model, action: CaseAction) -> AppError {
    AppError::Conflict(format!(
        "{} is not allowed: the case is {}; allowed now: {}",
        action.as_str(),
        crate::codes::code(c.state),
        case_allowed_actions(c.state).join(", ")
    ))
}

pub(crate) fn date_not_future(field: &str, d: NaiveDate) -> Result<(), AppError> {
    if d > today() {
        return Err(AppError::validation(field, "must not be in the future"));
    }
    Ok(())
}

/// CONFLICT for an action the case's state does not allow (for actions outside
/// [`CaseAction`]: the Quadro di analisi, the pact, supports).
pub(crate) fn refuse_case_state(c: &case_file::Model, action: &str) -> AppError {
    AppError::Conflict(format!(
        "{action} is not allowed: the case is {}; allowed now: {}",
        crate::codes::code(c.state),
        case_allowed_actions(c.state).join(", ")
    ))
}

/// A case under an explicit scope (for grants on objects other than Case).
pub(crate) async fn case_under(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    id: Uuid,
    scope: crate::authz::Scope,
) -> Result<case_file::Model, AppError> {
    find_under::<case_file::Entity>(scope, &a.gw.authz.principal)
        .filter(case_file::Column::Id.eq(id))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::not_found_at("input.caseId", "no case with this id"))
}

pub(crate) fn date_between(field: &str, d: NaiveDate, from: NaiveDate, what_from: &str) -> Result<(), AppError> {
    date_not_future(field, d)?;
    if d < from {
        return Err(AppError::validation(field, format!("must not be before {what_from} ({from})")));
    }
    Ok(())
}

/// Compare-and-set of a case: the new state and version, or CONFLICT if someone
/// else changed it in between.
pub(crate) async fn update_case(
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    set: impl FnOnce(sea_orm::UpdateMany<case_file::Entity>) -> sea_orm::UpdateMany<case_file::Entity>,
) -> Result<(), AppError> {
    let q = case_file::Entity::update_many().col_expr(case_file::Column::UpdatedAt, Expr::value(Utc::now()));
    compare_and_set(txn, c, set(q)).await
}

/// Coordinatore per il Patto: assigns (or reassigns) cases of its Ambito to an
/// accredited case manager of the same Ambito. All or nothing.
pub async fn assign_cases(a: &Acting<'_>, cases: &[(Uuid, i32)], case_manager: Uuid) -> Result<Vec<Uuid>, AppError> {
    if cases.is_empty() {
        return Err(AppError::validation("input.cases", "name at least one case"));
    }
    if cases.len() > 500 {
        return Err(AppError::validation("input.cases", "at most 500 cases at once"));
    }
    let me = a.me()?;
    let txn = a.begin().await?;
    let today = today();
    let mut entries = Vec::new();
    for (i, (id, version)) in cases.iter().enumerate() {
        let c = a.case(&txn, *id, Action::Assign).await.map_err(|e| match e {
            AppError::NotFound { message, .. } => AppError::not_found_at(format!("input.cases[{i}].id"), message),
            other => other,
        })?;
        check_version("case", c.version, *version)?;
        if !case_allows(c.state, CaseAction::Assign) {
            return Err(refuse_case(&c, CaseAction::Assign));
        }
        // The target: a case manager in force in the Ambito of the case.
        let profiles = Unscoped::Rule
            .find::<profile::Entity>()
            .filter(profile::Column::OperatorId.eq(case_manager))
            .filter(profile::Column::Role.eq(Role::CaseManager))
            .filter(profile::Column::AmbitoId.eq(c.ambito_id))
            .all(&txn)
            .await?;
        let op = a
            .named::<operator::Entity>(&txn, (operator::Column::Id, case_manager), "input.caseManagerId", "operator")
            .await?;
        if op.status != OperatorStatus::Active || !profiles.iter().any(|p| profile_in_force(p, today)) {
            return Err(AppError::validation(
                "input.caseManagerId",
                "not an accredited case manager with a profile in force in the Ambito of the case",
            ));
        }
        if c.case_manager_id == Some(case_manager) {
            continue;
        }
        let new_state = if c.state == CaseState::DaAssegnare { CaseState::Assegnato } else { c.state };
        let now = Utc::now();
        update_case(&txn, &c, |q| {
            q.col_expr(case_file::Column::CaseManagerId, Expr::value(case_manager))
                .col_expr(case_file::Column::AssignedAt, Expr::value(now))
                .col_expr(case_file::Column::AssignedBy, Expr::value(me))
                .col_expr(case_file::Column::State, Expr::value(new_state))
        })
        .await?;
        let mut e = AuditEntry::new("case_file", c.id, AuditAction::Assign);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(diff(&[
            ("case_manager_id", json!(c.case_manager_id), json!(case_manager)),
            ("state", json!(c.state), json!(new_state)),
            ("version", json!(c.version), json!(c.version + 1)),
        ]));
        entries.push(e);
    }
    txn.commit(entries).await?;
    Ok(cases.iter().map(|(id, _)| *id).collect())
}

/// The effects of a first meeting held on `held_on`: the case moves to the
/// Analisi preliminare, opened as a draft. Returns the audit entries.
pub(crate) async fn apply_first_meeting(
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    held_on: NaiveDate,
    meeting_id: Uuid,
) -> Result<Vec<AuditEntry>, AppError> {
    let now = Utc::now();
    update_case(txn, c, |q| {
        q.col_expr(case_file::Column::State, Expr::value(CaseState::ApInCorso))
            .col_expr(case_file::Column::FirstMeetingOn, Expr::value(held_on))
            .col_expr(case_file::Column::LastMeetingOn, Expr::value(held_on))
    })
    .await?;
    let mut entries = vec![{
        let mut e = AuditEntry::new("case_file", c.id, AuditAction::Transition);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(diff(&[
            ("state", json!(c.state), json!(CaseState::ApInCorso)),
            ("first_meeting_on", json!(c.first_meeting_on), json!(held_on)),
            ("last_meeting_on", json!(c.last_meeting_on), json!(held_on)),
            ("version", json!(c.version), json!(c.version + 1)),
        ]));
        e
    }];
    let existing = Unscoped::Child
        .find::<preliminary_analysis::Entity>()
        .filter(preliminary_analysis::Column::CaseId.eq(c.id))
        .one(txn)
        .await?;
    if existing.is_none() {
        let aid = Uuid::now_v7();
        preliminary_analysis::ActiveModel {
            id: Set(aid),
            case_id: Set(c.id),
            meeting_id: Set(Some(meeting_id)),
            state: Set(AnalysisState::Bozza),
            outcome: Set(None),
            needs_notes: Set(None),
            resources_notes: Set(None),
            health_notes: Set(None),
            completed_at: Set(None),
            completed_by: Set(None),
            version: Set(1),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        let mut e = AuditEntry::new("preliminary_analysis", aid, AuditAction::Create);
        e.ambito_id = Some(c.ambito_id);
        entries.push(e);
    }
    Ok(entries)
}

async fn analysis_of(txn: &DatabaseTransaction, c: &case_file::Model) -> Result<preliminary_analysis::Model, AppError> {
    Unscoped::Child
        .find::<preliminary_analysis::Entity>()
        .filter(preliminary_analysis::Column::CaseId.eq(c.id))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Conflict("the case has no Analisi preliminare yet: record the first meeting".into()))
}

pub struct AnalysisNotes {
    pub needs_notes: Option<String>,
    pub resources_notes: Option<String>,
    pub health_notes: Option<String>,
}

/// Case manager: saves the draft of the Analisi preliminare.
pub async fn save_analysis(a: &Acting<'_>, case_id: Uuid, version: i32, n: AnalysisNotes) -> Result<Uuid, AppError> {
    let needs = opt_text("input.needsNotes", n.needs_notes.as_deref(), 20_000)?;
    let resources = opt_text("input.resourcesNotes", n.resources_notes.as_deref(), 20_000)?;
    let health = opt_text("input.healthNotes", n.health_notes.as_deref(), 20_000)?;
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<preliminary_analysis::Entity>(Action::Update)?;
    if !case_allows(c.state, CaseAction::SaveAnalysis) {
        return Err(refuse_case(&c, CaseAction::SaveAnalysis));
    }
    let pa = analysis_of(&txn, &c).await?;
    check_version("analysis", pa.version, version)?;
    if pa.state != AnalysisState::Bozza {
        return Err(AppError::Conflict("the analysis is COMPLETATA; allowed now: reopenAnalysis".into()));
    }
    // Changed texts are audited as changed, never copied into the trail.
    let changed = |b: &Option<String>, n: &Option<String>| if b != n { json!("changed") } else { json!("unchanged") };
    let changes = json!({
        "needs_notes": changed(&pa.needs_notes, &needs),
        "resources_notes": changed(&pa.resources_notes, &resources),
        "health_notes": changed(&pa.health_notes, &health),
        "version": { "before": pa.version, "after": pa.version + 1 },
    });
    let q = preliminary_analysis::Entity::update_many()
        .col_expr(preliminary_analysis::Column::NeedsNotes, Expr::value(needs))
        .col_expr(preliminary_analysis::Column::ResourcesNotes, Expr::value(resources))
        .col_expr(preliminary_analysis::Column::HealthNotes, Expr::value(health))
        .col_expr(preliminary_analysis::Column::UpdatedAt, Expr::value(Utc::now()));
    compare_and_set(&txn, &pa, q).await?;
    let mut e = AuditEntry::new("preliminary_analysis", pa.id, AuditAction::Update);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(changes);
    txn.commit(vec![e]).await?;
    Ok(pa.id)
}

/// Case manager: completes the analysis with its outcome; the case is routed.
pub async fn complete_analysis(
    a: &Acting<'_>,
    case_id: Uuid,
    version: i32,
    outcome: AnalysisOutcome,
    pathway: Option<PathwayType>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<preliminary_analysis::Entity>(Action::Update)?;
    check_version("case", c.version, version)?;
    if !case_allows(c.state, CaseAction::CompleteAnalysis) {
        return Err(refuse_case(&c, CaseAction::CompleteAnalysis));
    }
    let pa = analysis_of(&txn, &c).await?;
    if pa.needs_notes.is_none() {
        return Err(AppError::validation(
            "input.outcome",
            "describe the needs (saveAnalysis) before completing the analysis",
        ));
    }
    let pathway = pathway_after_analysis(&txn, &c, outcome, pathway).await?;
    let now = Utc::now();
    let mut am = pa.clone().into_active_model();
    am.state = Set(AnalysisState::Completata);
    am.outcome = Set(Some(outcome));
    am.completed_at = Set(Some(now));
    am.completed_by = Set(Some(me));
    am.updated_at = Set(now);
    compare_and_set(&txn, &pa, preliminary_analysis::Entity::update_many().set(am)).await?;
    let new_state = state_after_analysis(outcome);
    update_case(&txn, &c, |q| {
        q.col_expr(case_file::Column::State, Expr::value(new_state))
            .col_expr(case_file::Column::PathwayType, Expr::value(pathway))
    })
    .await?;
    let mut entries = Vec::new();
    if new_state == CaseState::QdaInCorso {
        let exists = Unscoped::Child
            .find::<analysis_framework::Entity>()
            .filter(analysis_framework::Column::CaseId.eq(c.id))
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            let fid = Uuid::now_v7();
            analysis_framework::ActiveModel {
                id: Set(fid),
                case_id: Set(c.id),
                state: Set(FrameworkState::DaAvviare),
                assessment_notes: Set(None),
                priorities: Set(None),
                completed_at: Set(None),
                version: Set(1),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            let mut e = AuditEntry::new("analysis_framework", fid, AuditAction::Create);
            e.ambito_id = Some(c.ambito_id);
            entries.push(e);
        }
    }
    let mut e = AuditEntry::new("preliminary_analysis", pa.id, AuditAction::Transition);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(pa.state), json!(AnalysisState::Completata)),
        ("outcome", json!(pa.outcome), json!(outcome)),
    ]));
    entries.push(e);
    let mut e = AuditEntry::new("case_file", c.id, AuditAction::Transition);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(c.state), json!(new_state)),
        ("pathway_type", json!(c.pathway_type), json!(pathway)),
        ("version", json!(c.version), json!(c.version + 1)),
    ]));
    entries.push(e);
    txn.commit(entries).await?;
    Ok(c.id)
}

/// The ADI pathway an analysis sets (DL 48/2023 art. 6): none when it routes the
/// household to no pathway; the obligation of work and social activation when a
/// member is bound to work activation (`obligatedActivation`, as INPS reports
/// it), which no choice can lift; otherwise the obligation of social activation
/// with the option of work, or the option the case manager names (work and
/// social activation, or the SFL).
async fn pathway_after_analysis(
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    outcome: AnalysisOutcome,
    chosen: Option<PathwayType>,
) -> Result<Option<PathwayType>, AppError> {
    if outcome == AnalysisOutcome::NessunPercorso {
        return match chosen {
            Some(_) => Err(AppError::validation(
                "input.pathwayType",
                "an analysis that routes the household to no pathway sets none",
            )),
            None => Ok(None),
        };
    }
    let bound = Unscoped::Child
        .find::<member::Entity>()
        .filter(member::Column::HouseholdId.eq(c.household_id))
        .filter(member::Column::ObligatedActivation.eq(true))
        .one(txn)
        .await?
        .is_some();
    match (bound, chosen) {
        (true, None | Some(PathwayType::ObbligoAttivazione)) => Ok(Some(PathwayType::ObbligoAttivazione)),
        (true, Some(_)) => Err(AppError::validation(
            "input.pathwayType",
            "a member of the household is bound to work activation: the pathway is OBBLIGO_ATTIVAZIONE",
        )),
        (false, Some(PathwayType::ObbligoAttivazione)) => Err(AppError::validation(
            "input.pathwayType",
            "no member of the household is bound to work activation: OBBLIGO_ATTIVAZIONE does not apply",
        )),
        (false, chosen) => Ok(Some(chosen.unwrap_or(PathwayType::ObbligoSocialeOpzioneLavoro))),
    }
}

/// Case manager: reopens a completed analysis (the case goes back to it).
pub async fn reopen_analysis(a: &Acting<'_>, case_id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<preliminary_analysis::Entity>(Action::Update)?;
    check_version("case", c.version, version)?;
    if !case_allows(c.state, CaseAction::ReopenAnalysis) {
        return Err(refuse_case(&c, CaseAction::ReopenAnalysis));
    }
    let pa = analysis_of(&txn, &c).await?;
    let mut am = pa.clone().into_active_model();
    am.state = Set(AnalysisState::Bozza);
    am.completed_at = Set(None);
    am.completed_by = Set(None);
    am.updated_at = Set(Utc::now());
    compare_and_set(&txn, &pa, preliminary_analysis::Entity::update_many().set(am)).await?;
    update_case(&txn, &c, |q| q.col_expr(case_file::Column::State, Expr::value(CaseState::ApInCorso))).await?;
    let mut e1 = AuditEntry::new("preliminary_analysis", pa.id, AuditAction::Transition);
    e1.ambito_id = Some(c.ambito_id);
    e1.changes = Some(diff(&[("state", json!(pa.state), json!(AnalysisState::Bozza))]));
    let mut e2 = AuditEntry::new("case_file", c.id, AuditAction::Transition);
    e2.ambito_id = Some(c.ambito_id);
    e2.changes = Some(diff(&[
        ("state", json!(c.state), json!(CaseState::ApInCorso)),
        ("version", json!(c.version), json!(c.version + 1)),
    ]));
    txn.commit(vec![e1, e2]).await?;
    Ok(c.id)
}

pub struct NewReport {
    pub kind: ReportKind,
    pub fact_date: NaiveDate,
    pub description: String,
    pub member_id: Option<Uuid>,
    /// Keep as a draft instead of submitting it for approval.
    pub draft: bool,
}

/// Case manager: raises a segnalazione about one of its cases, for the
/// coordinator's approval.
pub async fn raise_report(a: &Acting<'_>, case_id: Uuid, r: NewReport) -> Result<Uuid, AppError> {
    let me = a.me()?;
    if !matches!(
        r.kind,
        ReportKind::MancataPresentazione
            | ReportKind::MancataSottoscrizione
            | ReportKind::RifiutoPuc
            | ReportKind::AbbandonoPuc
            | ReportKind::AltroFattoSanzionabile
    ) {
        return Err(AppError::validation(
            "input.kind",
            "this kind of segnalazione comes from residency checks, not from a case",
        ));
    }
    let description = text("input.description", &r.description, 4000)?;
    let txn = a.begin().await?;
    a.scope::<report::Entity>(Action::Create)?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    if !case_allows(c.state, CaseAction::RaiseReport) {
        return Err(refuse_case(&c, CaseAction::RaiseReport));
    }
    date_between("input.factDate", r.fact_date, c.pad_date, "the PAD")?;
    if let Some(m) = r.member_id {
        let member = a.named::<member::Entity>(&txn, (member::Column::Id, m), "input.memberId", "member").await?;
        if member.household_id != c.household_id {
            return Err(AppError::validation("input.memberId", "not a member of the household of the case"));
        }
    }
    let state = if r.draft { ReportState::Bozza } else { ReportState::DaApprovare };
    let id = insert_report(
        &txn,
        ReportDraft {
            ambito_id: c.ambito_id,
            comune_istat: c.comune_istat.clone(),
            case_id: Some(c.id),
            residency_check_id: None,
            puc_assignment_id: None,
            member_id: r.member_id,
            kind: r.kind,
            state,
            fact_date: r.fact_date,
            description,
            created_by: me,
            rectification_of: None,
            annuls: false,
            override_reason: None,
        },
    )
    .await?;
    let mut e = AuditEntry::new("report", id, AuditAction::Create);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(json!({ "case_id": c.id, "kind": r.kind, "state": state, "fact_date": r.fact_date }));
    txn.commit(vec![e]).await?;
    Ok(id)
}
