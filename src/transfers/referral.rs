//! Referrals (domain spec §1.8): the Analisi preliminare may route members
//! activable to work to a Centro per l'impiego, or the household to a
//! specialist service. Unlike a transfer, the case keeps its Ambito and case
//! manager; the service receives a declared projection: a CPI collects the
//! referral from its change feed (`INVIO_CPI`, with the member's codice
//! fiscale) and reads the referral's public fields and the pathway, never the
//! case or the reason; a specialist service is outside GePI, and the case
//! manager records its steps.

use chrono::Utc;
use entity::{case_referral, enums::*, member};
use sea_orm::{sea_query::Expr, ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::AuditEntry,
    authz::{Action, Object},
    cases::service::case_under,
    error::AppError,
    unscoped::Unscoped,
    workflow::{check_version, compare_and_set, diff, opt_text, text, Acting},
};

/// What the case manager sends.
pub struct NewReferral {
    pub member_id: Option<Uuid>,
    pub target: ReferralTarget,
    pub service: String,
    pub reason: String,
}

fn entry(r: &case_referral::Model, action: AuditAction, changes: serde_json::Value) -> AuditEntry {
    let mut e = AuditEntry::new("case_referral", r.id, action);
    e.ambito_id = Some(r.ambito_id);
    e.changes = Some(changes);
    e
}

/// Case manager (own cases): refers the case (or one of its members) to a
/// service. One open referral per service and member.
pub async fn refer(a: &Acting<'_>, case_id: Uuid, n: NewReferral) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let service = text("input.service", &n.service, 200)?;
    let reason = text("input.reason", &n.reason, 4000)?;
    let txn = a.begin().await?;
    let scope = a.gw.authz.scope_for(Object::CaseReferral, Action::Create)?;
    let c = case_under(a, &txn, case_id, scope).await?;
    use CaseState::*;
    if !matches!(c.state, ApInCorso | QdaInCorso | PattoInDefinizione | InviatoAltroServizio | InMonitoraggio) {
        return Err(AppError::Conflict(format!(
            "referCase is not allowed: the case is {}; a case is referred once its household was met, while it is open",
            crate::codes::code(c.state)
        )));
    }
    let member = match n.member_id {
        // A member of the case's household, or not found (as any id the actor cannot name).
        Some(m) => Some(
            Unscoped::Child
                .find_by_id::<member::Entity>(m)
                .one(&*txn)
                .await?
                .filter(|x| x.household_id == c.household_id)
                .ok_or_else(|| AppError::not_found_at("input.memberId", "no member with this id"))?,
        ),
        None => None,
    };
    // A CPI works with a person bound to work activation, whose codice fiscale
    // is all its feed gives it: never a minor, a carer or the whole household.
    if n.target == ReferralTarget::Cpi && !member.as_ref().is_some_and(|m| m.obligated_activation) {
        return Err(AppError::validation(
            "input.memberId",
            "a referral to a CPI names a member of the household bound to work activation (obligatedActivation)",
        ));
    }
    let open = Unscoped::Rule
        .find::<case_referral::Entity>()
        .filter(case_referral::Column::CaseId.eq(c.id))
        .filter(case_referral::Column::Target.eq(n.target))
        .filter(case_referral::Column::Service.eq(service.clone()))
        .filter(case_referral::Column::State.ne(ReferralState::Chiuso))
        .all(&*txn)
        .await?;
    if open.iter().any(|r| r.member_id == n.member_id) {
        return Err(AppError::Conflict("the case is already referred to this service for this member".into()));
    }
    let r = case_referral::Model {
        id: Uuid::now_v7(),
        case_id: c.id,
        ambito_id: c.ambito_id,
        comune_istat: c.comune_istat.clone(),
        member_id: n.member_id,
        target: n.target,
        service: Some(service),
        reason: Some(reason),
        pathway_type: c.pathway_type,
        state: ReferralState::InAttesa,
        requested_by: Some(me),
        requested_at: Utc::now(),
        taken_at: None,
        closed_at: None,
        outcome_note: None,
        version: 1,
    };
    sea_orm::IntoActiveModel::into_active_model(r.clone()).insert(&*txn).await?;
    if n.target == ReferralTarget::Cpi {
        crate::outbox::emit(
            &*txn,
            crate::outbox::Event {
                audience: PartnerAudience::Cpi,
                kind: PartnerEventKind::InvioCpi,
                ambito_id: c.ambito_id,
                comune_istat: c.comune_istat.clone(),
                subject: crate::outbox::Subject::Referral(r.id),
                application_id: None,
                member_id: n.member_id,
            },
        )
        .await?;
    }
    let e = entry(
        &r,
        AuditAction::Create,
        json!({ "case_id": c.id, "target": n.target, "member_id": n.member_id, "state": ReferralState::InAttesa }),
    );
    txn.commit(vec![e]).await?;
    Ok(r.id)
}

/// A step of a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The service took the person in charge.
    TakeInCharge,
    /// The referral ends.
    Close,
}

/// The case manager (own cases), or the Centro per l'impiego for a referral to
/// a CPI: records that the service took the person in charge, or closes it.
pub async fn step(a: &Acting<'_>, id: Uuid, version: i32, s: Step, note: Option<String>) -> Result<Uuid, AppError> {
    let note = opt_text("input.note", note.as_deref(), 4000)?;
    let txn = a.begin().await?;
    let r = a
        .load::<case_referral::Entity>(
            &txn,
            case_referral::Column::Id,
            id,
            Action::Update,
            ("input.referralId", "referral"),
        )
        .await?;
    check_version("referral", r.version, version)?;
    let now = Utc::now();
    let (to, q) = match (s, r.state) {
        (Step::TakeInCharge, ReferralState::InAttesa) => (
            ReferralState::PresoInCarico,
            case_referral::Entity::update_many().col_expr(case_referral::Column::TakenAt, Expr::value(now)),
        ),
        (Step::Close, ReferralState::InAttesa | ReferralState::PresoInCarico) => (
            ReferralState::Chiuso,
            case_referral::Entity::update_many().col_expr(case_referral::Column::ClosedAt, Expr::value(now)),
        ),
        (_, state) => {
            return Err(AppError::Conflict(format!(
                "stepCaseReferral is not allowed: the referral is {}; allowed now: {}",
                crate::codes::code(state),
                match state {
                    ReferralState::InAttesa => "TAKE_IN_CHARGE, CLOSE",
                    ReferralState::PresoInCarico => "CLOSE",
                    ReferralState::Chiuso => "nothing",
                }
            )))
        }
    };
    let mut q = q.col_expr(case_referral::Column::State, Expr::value(to));
    if let Some(n) = note.clone() {
        q = q.col_expr(case_referral::Column::OutcomeNote, Expr::value(n));
    }
    compare_and_set(&*txn, &r, q).await?;
    let e = entry(
        &r,
        AuditAction::Transition,
        diff(&[
            ("state", json!(r.state), json!(to)),
            ("outcome_note", json!(r.outcome_note.is_some()), json!(note.is_some() || r.outcome_note.is_some())),
        ]),
    );
    txn.commit(vec![e]).await?;
    Ok(r.id)
}
