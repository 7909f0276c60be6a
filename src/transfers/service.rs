//! Use cases of case transfers.

use chrono::Utc;
use entity::{
    analysis_framework, case_file, case_referral, case_transfer, comune, enums::*, household, meeting, member,
    preliminary_analysis, report, sealed_field,
};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::model::*;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    authz::{Action, Object},
    calendar::{add_working_days, today},
    cases::service::{case_under, update_case},
    error::AppError,
    territory::model::IstatCode,
    unscoped::Unscoped,
    workflow::{bump_version, check_version, compare_and_set, diff, opt_text, Acting},
};

/// What the sending coordinator asks.
pub struct Request {
    pub to_comune: String,
    pub reason: TransferReason,
    /// The legal basis under which health notes and disadvantage details travel.
    pub legal_basis: Option<String>,
}

/// One entry for each Ambito the transfer concerns (one when both are the same).
fn both(
    t: &case_transfer::Model,
    entity: &'static str,
    id: Uuid,
    action: AuditAction,
    changes: serde_json::Value,
) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    for ambito in [t.from_ambito_id, t.to_ambito_id] {
        if out.iter().any(|e: &AuditEntry| e.ambito_id == Some(ambito)) {
            continue;
        }
        let mut e = AuditEntry::new(entity, id, action);
        e.ambito_id = Some(ambito);
        e.changes = Some(changes.clone());
        out.push(e);
    }
    out
}

fn refuse(t: &case_transfer::Model, action: &str) -> AppError {
    AppError::Conflict(format!(
        "{action} is not allowed: the transfer is {}; allowed now: {}",
        crate::codes::code(t.state),
        allowed_actions(t.state)
    ))
}

/// Coordinatore per il Patto of the case's Ambito: asks the Ambito of the
/// Comune the household moved to to take the case over.
pub async fn request(
    a: &Acting<'_>,
    case_id: Uuid,
    version: i32,
    r: Request,
    decision_days: u32,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let legal_basis = opt_text("input.legalBasis", r.legal_basis.as_deref(), 2000)?;
    let code = IstatCode::parse_at("input.toComune", &r.to_comune)?;
    let txn = a.begin().await?;
    let scope = a.gw.authz.scope_for(Object::CaseTransfer, Action::Create)?;
    let c = case_under(a, &txn, case_id, scope).await?;
    check_version("case", c.version, version)?;
    if !transferable(c.state) {
        return Err(AppError::Conflict(format!(
            "requestCaseTransfer is not allowed: the case is {}; only an open case is transferred",
            crate::codes::code(c.state)
        )));
    }
    let to = Unscoped::Reference
        .find_by_id::<comune::Entity>(code.as_str().to_string())
        .one(&*txn)
        .await?
        .ok_or_else(|| AppError::validation("input.toComune", format!("no Comune with ISTAT code {code}")))?;
    if to.istat_code == c.comune_istat {
        return Err(AppError::validation("input.toComune", "the case is already in this Comune"));
    }
    if to.ambito_id == c.ambito_id {
        return Err(AppError::validation(
            "input.toComune",
            "the Comune is in the case's own Ambito: a move within the Ambito follows the INPS feed, no transfer",
        ));
    }
    if awaiting_decision(&txn, c.id).await? {
        return Err(AppError::Conflict("the case already has a transfer awaiting a decision".into()));
    }
    // The case's version moves: a change read before the request is stale.
    update_case(&txn, &c, |q| q).await?;
    let asked =
        Asked { to_ambito: to.ambito_id, to_comune: to.istat_code, reason: r.reason, legal_basis, by: Some(me) };
    let (id, mut entries) = open(&txn, &c, asked, decision_days).await?;
    let mut e = AuditEntry::new("case_file", c.id, AuditAction::Update);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(json!({ "transfer_requested": id, "version": { "before": c.version, "after": c.version + 1 } }));
    entries.push(e);
    txn.commit(entries).await?;
    Ok(id)
}

/// Whether the case has a transfer awaiting a decision.
pub async fn awaiting_decision<C: ConnectionTrait>(db: &C, case_id: Uuid) -> Result<bool, AppError> {
    let open = Unscoped::Rule
        .find::<case_transfer::Entity>()
        .filter(case_transfer::Column::CaseId.eq(case_id))
        .filter(case_transfer::Column::State.eq(TransferState::Richiesto))
        .count(db)
        .await?;
    Ok(open > 0)
}

/// Whether the case was already proposed to the Comune `to`: a request awaiting
/// a decision (to any Comune), or one for this Comune rejected or withdrawn. The INPS feed,
/// which reports the same residence again and again, raises a transfer once.
pub async fn already_proposed<C: ConnectionTrait>(db: &C, case_id: Uuid, to: &str) -> Result<bool, AppError> {
    if awaiting_decision(db, case_id).await? {
        return Ok(true);
    }
    let rejected = Unscoped::Rule
        .find::<case_transfer::Entity>()
        .filter(case_transfer::Column::CaseId.eq(case_id))
        .filter(case_transfer::Column::ToComuneIstat.eq(to))
        .filter(case_transfer::Column::State.is_in([TransferState::Rifiutato, TransferState::Ritirato]))
        .count(db)
        .await?;
    Ok(rejected > 0)
}

/// A transfer to open: where to, why, under which legal basis, by whom (none:
/// raised by the INPS feed).
pub struct Asked {
    pub to_ambito: Uuid,
    pub to_comune: String,
    pub reason: TransferReason,
    pub legal_basis: Option<String>,
    pub by: Option<Uuid>,
}

/// Opens a transfer of the case `c` (the caller checked that none awaits a
/// decision), with the card as the case stands; returns its id and the entries
/// of both Ambiti's trails.
pub async fn open<C: ConnectionTrait>(
    db: &C,
    c: &case_file::Model,
    asked: Asked,
    decision_days: u32,
) -> Result<(Uuid, Vec<AuditEntry>), AppError> {
    let size = Unscoped::Child
        .find::<member::Entity>()
        .filter(member::Column::HouseholdId.eq(c.household_id))
        .count(db)
        .await?;
    let t = case_transfer::Model {
        id: Uuid::now_v7(),
        case_id: c.id,
        state: TransferState::Richiesto,
        reason: asked.reason,
        from_ambito_id: c.ambito_id,
        from_comune_istat: c.comune_istat.clone(),
        to_ambito_id: asked.to_ambito,
        to_comune_istat: asked.to_comune.clone(),
        household_size: size as i32,
        case_state: c.state,
        pad_date: c.pad_date,
        first_meeting_on: c.first_meeting_on,
        legal_basis: asked.legal_basis.clone(),
        requested_by: asked.by,
        requested_at: Utc::now(),
        due_on: add_working_days(today(), decision_days),
        escalated_at: None,
        decided_by: None,
        decided_at: None,
        rejection_reason: None,
        decision_note: None,
        version: 1,
    };
    sea_orm::IntoActiveModel::into_active_model(t.clone()).insert(db).await?;
    let changes = json!({
        "case_id": c.id, "state": TransferState::Richiesto, "reason": asked.reason,
        "from_comune": c.comune_istat, "to_comune": asked.to_comune, "due_on": t.due_on,
        "legal_basis": asked.legal_basis.is_some(),
    });
    Ok((t.id, both(&t, "case_transfer", t.id, AuditAction::Create, changes)))
}

/// How the receiving Ambito decides.
pub enum Decision {
    Accept,
    Reject { reason: TransferRejectionReason },
}

/// Coordinatore per il Patto of the receiving Ambito: accepts the transfer (the
/// case and what hangs off it move, in this transaction) or rejects it with a
/// coded reason (a note is required with `ALTRO`).
pub async fn decide(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    d: Decision,
    note: Option<String>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let note = opt_text("input.note", note.as_deref(), 2000)?;
    if matches!(d, Decision::Reject { reason: TransferRejectionReason::Altro }) && note.is_none() {
        return Err(AppError::validation("input.note", "say why the transfer is rejected"));
    }
    let txn = a.begin().await?;
    let t = a
        .load::<case_transfer::Entity>(
            &txn,
            case_transfer::Column::Id,
            id,
            Action::Approve,
            ("input.transferId", "transfer"),
        )
        .await?;
    if Some(t.to_ambito_id) != a.gw.authz.principal.ambito_id {
        return Err(AppError::Forbidden("only the receiving Ambito decides a transfer".into()));
    }
    check_version("transfer", t.version, version)?;
    if t.state != TransferState::Richiesto {
        return Err(refuse(&t, "decideCaseTransfer"));
    }
    let now = Utc::now();
    let (state, rejection) = match d {
        Decision::Accept => (TransferState::Accettato, None),
        Decision::Reject { reason } => (TransferState::Rifiutato, Some(reason)),
    };
    let n2 = note.clone();
    let q = case_transfer::Entity::update_many()
        .col_expr(case_transfer::Column::State, Expr::value(state))
        .col_expr(case_transfer::Column::RejectionReason, Expr::value(rejection))
        .col_expr(case_transfer::Column::DecisionNote, Expr::value(n2))
        .col_expr(case_transfer::Column::DecidedBy, Expr::value(me))
        .col_expr(case_transfer::Column::DecidedAt, Expr::value(now));
    compare_and_set(&*txn, &t, q).await?;
    let mut entries = both(
        &t,
        "case_transfer",
        t.id,
        AuditAction::Transition,
        json!({ "state": { "before": t.state, "after": state }, "rejection_reason": rejection, "note": note.is_some() }),
    );
    if state == TransferState::Accettato {
        entries.extend(move_case(&txn, &t).await?);
    }
    txn.commit(entries).await?;
    Ok(t.id)
}

/// Moves the case of an accepted transfer, its household, its meetings and its
/// segnalazioni to the receiving Ambito and Comune; returns their trail.
async fn move_case(txn: &crate::workflow::Work, t: &case_transfer::Model) -> Result<Vec<AuditEntry>, AppError> {
    let c = Unscoped::Child
        .find_by_id::<case_file::Entity>(t.case_id)
        .one(&**txn)
        .await?
        .ok_or_else(|| AppError::internal("transfer of a missing case"))?;
    if !transferable(c.state) {
        return Err(AppError::Conflict(format!(
            "the case was {} meanwhile: the transfer can only be rejected",
            crate::codes::code(c.state)
        )));
    }
    let state = state_after_transfer(c.state);
    let (to_ambito, to_comune) = (t.to_ambito_id, t.to_comune_istat.clone());
    let tc = to_comune.clone();
    update_case(txn, &c, move |q| {
        q.col_expr(case_file::Column::AmbitoId, Expr::value(to_ambito))
            .col_expr(case_file::Column::ComuneIstat, Expr::value(tc))
            .col_expr(case_file::Column::State, Expr::value(state))
            .col_expr(case_file::Column::CaseManagerId, Expr::value(Option::<Uuid>::None))
            .col_expr(case_file::Column::AssignedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(case_file::Column::AssignedBy, Expr::value(Option::<Uuid>::None))
    })
    .await?;
    let mut entries = both(
        t,
        "case_file",
        c.id,
        AuditAction::Transition,
        diff(&[
            ("ambito_id", json!(c.ambito_id), json!(to_ambito)),
            ("comune_istat", json!(c.comune_istat), json!(to_comune)),
            ("state", json!(c.state), json!(state)),
            ("case_manager_id", json!(c.case_manager_id), json!(null)),
            ("version", json!(c.version), json!(c.version + 1)),
        ]),
    );
    household::Entity::update_many()
        .col_expr(household::Column::AmbitoId, Expr::value(to_ambito))
        .col_expr(household::Column::ComuneIstat, Expr::value(to_comune.clone()))
        .filter(household::Column::Id.eq(c.household_id))
        .exec(&**txn)
        .await?;
    // Each member's residence is INPS's to report (the feed): it is not touched here.
    entries.extend(both(
        t,
        "household",
        c.household_id,
        AuditAction::Update,
        json!({ "ambito_id": { "before": c.ambito_id, "after": to_ambito }, "comune_istat": { "before": c.comune_istat, "after": to_comune }, "transfer_id": t.id }),
    ));
    // Open meetings are cancelled: the new Ambito plans its own.
    let open = Unscoped::Child
        .find::<meeting::Entity>()
        .filter(meeting::Column::CaseId.eq(c.id))
        .filter(meeting::Column::State.is_in([MeetingState::Pianificato, MeetingState::Convocato]))
        .all(&**txn)
        .await?;
    for m in &open {
        // Only as it was read: an outcome recorded meanwhile is a conflict.
        let q = meeting::Entity::update_many().col_expr(meeting::Column::State, Expr::value(MeetingState::Annullato));
        compare_and_set(&**txn, m, q).await?;
        entries.extend(both(
            t,
            "meeting",
            m.id,
            AuditAction::Transition,
            json!({ "state": { "before": m.state, "after": MeetingState::Annullato }, "transfer_id": t.id }),
        ));
    }
    // The case's history goes with it: its meetings, segnalazioni and
    // referrals belong to the new Ambito, and the old one's row rules no
    // longer reach them.
    use meeting::Column as M;
    use report::Column as R;
    entries.extend(
        move_with_case::<meeting::Entity>(txn, t, &c, "meeting", (M::CaseId, M::AmbitoId, M::ComuneIstat)).await?,
    );
    entries.extend(
        move_with_case::<report::Entity>(txn, t, &c, "report", (R::CaseId, R::AmbitoId, R::ComuneIstat)).await?,
    );
    use case_referral::Column as F;
    entries.extend(
        move_with_case::<case_referral::Entity>(txn, t, &c, "case_referral", (F::CaseId, F::AmbitoId, F::ComuneIstat))
            .await?,
    );
    // Its PUC ends with the move; the project's Comune keeps the record.
    entries.extend(crate::puc::service::interrupt_for_transfer(txn, &c, to_ambito).await?);
    // What needs a legal basis the request did not record does not travel.
    if t.legal_basis.is_none() {
        entries.extend(seal(txn, t, &c).await?);
    }
    Ok(entries)
}

/// Moves the rows of `E` that hang off the case `c` (by `case`) to the Ambito
/// and Comune of the transfer `t` (`ambito`, `comune`), moving their versions;
/// returns an entry for each in both trails.
async fn move_with_case<E>(
    txn: &crate::workflow::Work,
    t: &case_transfer::Model,
    c: &case_file::Model,
    entity: &'static str,
    (case, ambito, comune): (E::Column, E::Column, E::Column),
) -> Result<Vec<AuditEntry>, AppError>
where
    E: EntityTrait,
    E::Model: crate::workflow::Versioned,
{
    use crate::workflow::Versioned;
    let rows = Unscoped::Child.find::<E>().filter(case.eq(c.id)).all(&**txn).await?;
    let mut entries = Vec::new();
    for r in &rows {
        entries.extend(both(
            t,
            entity,
            r.row_id(),
            AuditAction::Update,
            json!({ "ambito_id": { "before": c.ambito_id, "after": t.to_ambito_id }, "transfer_id": t.id }),
        ));
    }
    bump_version::<E::Model>(E::update_many())
        .col_expr(ambito, Expr::value(t.to_ambito_id))
        .col_expr(comune, Expr::value(t.to_comune_istat.clone()))
        .filter(case.eq(c.id))
        .exec(&**txn)
        .await?;
    Ok(entries)
}

/// The fields of one table that `policies/travel.csv` may mark `legal_basis`:
/// their names there, and their columns.
struct Sealable<E: EntityTrait> {
    table: &'static str,
    fields: &'static [(&'static str, E::Column)],
}

const SEALABLE_ANALYSIS: Sealable<preliminary_analysis::Entity> = Sealable {
    table: "preliminary_analysis",
    fields: &[
        ("PreliminaryAnalysis.healthNotes", preliminary_analysis::Column::HealthNotes),
        ("PreliminaryAnalysis.needsNotes", preliminary_analysis::Column::NeedsNotes),
    ],
};
const SEALABLE_FRAMEWORK: Sealable<analysis_framework::Entity> = Sealable {
    table: "analysis_framework",
    fields: &[("AnalysisFramework.assessmentNotes", analysis_framework::Column::AssessmentNotes)],
};
const SEALABLE_REFERRAL: Sealable<case_referral::Entity> = Sealable {
    table: "case_referral",
    fields: &[
        ("CaseReferral.service", case_referral::Column::Service),
        ("CaseReferral.reason", case_referral::Column::Reason),
        ("CaseReferral.outcomeNote", case_referral::Column::OutcomeNote),
    ],
};

impl<E: EntityTrait> Sealable<E> {
    fn column_of(&self, field: &str) -> Option<(&'static str, &'static str)> {
        use sea_orm::IdenStatic;
        self.fields.iter().find(|(f, _)| *f == field).map(|(_, col)| (self.table, col.as_str()))
    }
}

/// Where a field that travels only with a legal basis lives (its table and
/// column): the fields `policies/travel.csv` marks `legal_basis` must be here.
pub fn sealable(field: &str) -> Option<(&'static str, &'static str)> {
    SEALABLE_ANALYSIS
        .column_of(field)
        .or_else(|| SEALABLE_FRAMEWORK.column_of(field))
        .or_else(|| SEALABLE_REFERRAL.column_of(field))
}

/// A value taken off its row: table, row, field, value.
type Sealed = (&'static str, Uuid, &'static str, String);

/// Seals, on every row of `E` of the case, the fields of `s` that `wanted`
/// names: locks the rows and moves each one's version, sealed or not.
async fn seal_rows<E>(
    txn: &crate::workflow::Work,
    case: (E::Column, Uuid),
    s: &Sealable<E>,
    wanted: &[String],
    out: &mut Vec<Sealed>,
) -> Result<(), AppError>
where
    E: EntityTrait,
    E::Model: crate::workflow::Versioned,
{
    use crate::workflow::Versioned;
    use sea_orm::{ModelTrait, QuerySelect};
    let rows = Unscoped::Child.find::<E>().filter(case.0.eq(case.1)).lock_exclusive().all(&**txn).await?;
    for r in rows {
        let mut q = E::update_many();
        for (field, col) in s.fields.iter().filter(|(f, _)| wanted.iter().any(|w| w == f)) {
            if let sea_orm::Value::String(Some(v)) = r.get(*col) {
                out.push((s.table, r.row_id(), field, v.to_string()));
                q = q.col_expr(*col, Expr::value(Option::<String>::None));
            }
        }
        compare_and_set(&**txn, &r, q).await?;
    }
    Ok(())
}

/// Seals the case's content that needs a legal basis: each value is taken off
/// its row into `sealed_field`, where no role reads it; the trail of both
/// Ambiti records what was sealed, never the value. Every row that could hold
/// such content is locked and its version moved, sealed or not: a save read
/// before the move (a note written on an empty field, a note rewritten) is
/// then stale and refused, instead of landing on the moved case or being lost.
async fn seal(
    txn: &crate::workflow::Work,
    t: &case_transfer::Model,
    c: &case_file::Model,
) -> Result<Vec<AuditEntry>, AppError> {
    let fields = super::model::needs_legal_basis();
    if let Some(other) = fields.iter().find(|f| sealable(f).is_none()) {
        return Err(AppError::internal(format!("policies/travel.csv names {other}, which cannot be sealed")));
    }
    let mut sealed: Vec<Sealed> = Vec::new();
    seal_rows(txn, (preliminary_analysis::Column::CaseId, c.id), &SEALABLE_ANALYSIS, &fields, &mut sealed).await?;
    seal_rows(txn, (analysis_framework::Column::CaseId, c.id), &SEALABLE_FRAMEWORK, &fields, &mut sealed).await?;
    seal_rows(txn, (case_referral::Column::CaseId, c.id), &SEALABLE_REFERRAL, &fields, &mut sealed).await?;
    let now = Utc::now();
    let mut entries = Vec::new();
    for (entity, id, field, value) in sealed {
        sealed_field::ActiveModel {
            id: sea_orm::ActiveValue::Set(Uuid::now_v7()),
            transfer_id: sea_orm::ActiveValue::Set(t.id),
            entity: sea_orm::ActiveValue::Set(entity.to_string()),
            entity_id: sea_orm::ActiveValue::Set(id),
            field: sea_orm::ActiveValue::Set(field.to_string()),
            value: sea_orm::ActiveValue::Set(value),
            sealed_at: sea_orm::ActiveValue::Set(now),
        }
        .insert(&**txn)
        .await?;
        entries.extend(both(t, entity, id, AuditAction::Update, json!({ "sealed": field, "transfer_id": t.id })));
    }
    Ok(entries)
}

/// Coordinatore per il Patto of the sending Ambito: withdraws a request not
/// decided yet.
pub async fn withdraw(a: &Acting<'_>, id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let t = a
        .load::<case_transfer::Entity>(
            &txn,
            case_transfer::Column::Id,
            id,
            Action::Create,
            ("input.transferId", "transfer"),
        )
        .await?;
    if Some(t.from_ambito_id) != a.gw.authz.principal.ambito_id {
        return Err(AppError::Forbidden("only the sending Ambito withdraws a transfer".into()));
    }
    check_version("transfer", t.version, version)?;
    if t.state != TransferState::Richiesto {
        return Err(refuse(&t, "withdrawCaseTransfer"));
    }
    let q = case_transfer::Entity::update_many()
        .col_expr(case_transfer::Column::State, Expr::value(TransferState::Ritirato));
    compare_and_set(&*txn, &t, q).await?;
    let entries = both(
        &t,
        "case_transfer",
        t.id,
        AuditAction::Transition,
        json!({ "state": { "before": t.state, "after": TransferState::Ritirato } }),
    );
    txn.commit(entries).await?;
    Ok(t.id)
}

/// The server's chore: transfers past their deadline without a decision are
/// escalated to both Ambito administrators (they read them, flagged, and both
/// trails record it). Returns how many were escalated.
pub async fn escalate_overdue(db: &DatabaseConnection, today: chrono::NaiveDate) -> Result<u64, AppError> {
    let due = Unscoped::System
        .find::<case_transfer::Entity>()
        .filter(case_transfer::Column::State.eq(TransferState::Richiesto))
        .filter(case_transfer::Column::EscalatedAt.is_null())
        .filter(case_transfer::Column::DueOn.lt(today))
        .all(db)
        .await?;
    let ctx = AuditContext::unattributed(ActorKind::System, Some("transfer-escalation".into()));
    let mut n = 0;
    for t in due {
        let txn = db.begin().await?;
        // The version stays: a decision made on the card read before is still good.
        let taken = case_transfer::Entity::update_many()
            .col_expr(case_transfer::Column::EscalatedAt, Expr::value(Utc::now()))
            .filter(case_transfer::Column::Id.eq(t.id))
            .filter(case_transfer::Column::State.eq(TransferState::Richiesto))
            .filter(case_transfer::Column::EscalatedAt.is_null())
            .exec(&txn)
            .await?;
        if taken.rows_affected != 1 {
            continue;
        }
        let entries =
            both(&t, "case_transfer", t.id, AuditAction::Update, json!({ "escalated": true, "due_on": t.due_on }));
        audit::record(&txn, &ctx, entries).await?;
        txn.commit().await?;
        n += 1;
    }
    Ok(n)
}
