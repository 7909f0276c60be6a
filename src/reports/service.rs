//! Use cases on segnalazioni: inserting one for the workflow that raises it,
//! submitting a draft, deciding one. Sending an approved segnalazione of a
//! negative residency check marks the check as sent to INPS.

use chrono::{NaiveDate, Utc};
use entity::{
    case_file,
    enums::{
        AuditAction, PartnerAudience, PartnerEventKind, ReportKind, ReportState, ResidencyCheckState,
        ResidencyOverrideReason,
    },
    report, residency_check,
};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::model::*;
use crate::unscoped::Unscoped;
use crate::{
    audit::AuditEntry,
    authz::Action,
    calendar::today,
    error::AppError,
    workflow::{check_version, compare_and_set, diff, opt_text, text, Acting},
};

/// A segnalazione to raise: what differs between the workflows that raise one
/// (a case manager, a meeting absence, a refused pact, a PUC interruption, a
/// negative residency check).
pub struct ReportDraft {
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub case_id: Option<Uuid>,
    pub residency_check_id: Option<Uuid>,
    pub puc_assignment_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub kind: ReportKind,
    pub state: ReportState,
    pub fact_date: NaiveDate,
    pub description: String,
    pub created_by: Uuid,
    /// The segnalazione already sent that this one rectifies (or annuls).
    pub rectification_of: Option<Uuid>,
    /// Whether it annuls `rectification_of` instead of rectifying it.
    pub annuls: bool,
    /// A failed residency check's outcome that contradicts the computed requirement: why.
    pub override_reason: Option<ResidencyOverrideReason>,
}

/// Inserts a new segnalazione (ascertained today, version 1); the caller audits it.
pub async fn insert_report(txn: &DatabaseTransaction, d: ReportDraft) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    report::ActiveModel {
        id: Set(id),
        ambito_id: Set(d.ambito_id),
        comune_istat: Set(d.comune_istat),
        case_id: Set(d.case_id),
        residency_check_id: Set(d.residency_check_id),
        puc_assignment_id: Set(d.puc_assignment_id),
        member_id: Set(d.member_id),
        kind: Set(d.kind),
        state: Set(d.state),
        fact_date: Set(d.fact_date),
        ascertained_on: Set(today()),
        description: Set(d.description),
        created_by: Set(Some(d.created_by)),
        decided_by: Set(None),
        decided_at: Set(None),
        decision_comment: Set(None),
        sent_at: Set(None),
        inps_ack: Set(None),
        rectification_of: Set(d.rectification_of),
        annuls: Set(d.annuls),
        override_reason: Set(d.override_reason),
        version: Set(1),
        created_at: Set(Utc::now()),
    }
    .insert(txn)
    .await?;
    Ok(id)
}

async fn load_report(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    id: Uuid,
    action: Action,
) -> Result<report::Model, AppError> {
    a.load::<report::Entity>(txn, report::Column::Id, id, action, ("input.reportId", "segnalazione")).await
}

fn refuse_report(r: &report::Model, what: &str) -> AppError {
    let allowed = report_allowed_actions(r.state);
    AppError::Conflict(format!(
        "{what} is not allowed: the segnalazione is {}; allowed now: {}",
        crate::codes::code(r.state),
        if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") }
    ))
}

async fn update_report<C: ConnectionTrait>(
    txn: &C,
    r: &report::Model,
    set: impl FnOnce(sea_orm::UpdateMany<report::Entity>) -> sea_orm::UpdateMany<report::Entity>,
) -> Result<(), AppError> {
    let q = set(report::Entity::update_many());
    compare_and_set(txn, r, q).await
}

/// Case manager: submits a draft segnalazione for approval.
pub async fn submit_report(a: &Acting<'_>, id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let r = load_report(a, &txn, id, Action::Create).await?;
    check_version("segnalazione", r.version, version)?;
    if !report_allows(r.state, ReportAction::Submit) {
        return Err(refuse_report(&r, "submitReport"));
    }
    update_report(&txn, &r, |q| q.col_expr(report::Column::State, Expr::value(ReportState::DaApprovare))).await?;
    let mut e = AuditEntry::new("report", id, AuditAction::Transition);
    e.ambito_id = Some(r.ambito_id);
    e.changes = Some(diff(&[("state", json!(r.state), json!(ReportState::DaApprovare))]));
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// Coordinatore per il Patto: approves (the segnalazione is sent to INPS) or
/// rejects it, with a comment (required to reject).
pub async fn decide_report(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    approve: bool,
    comment: Option<String>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let comment = opt_text("input.comment", comment.as_deref(), 2000)?;
    if !approve && comment.is_none() {
        return Err(AppError::validation("input.comment", "say why the segnalazione is rejected"));
    }
    let txn = a.begin().await?;
    let r = load_report(a, &txn, id, Action::Approve).await?;
    check_version("segnalazione", r.version, version)?;
    if !report_allows(r.state, ReportAction::Decide) {
        return Err(refuse_report(&r, "decideReport"));
    }
    let now = Utc::now();
    let new_state = if approve { ReportState::Inviata } else { ReportState::Rifiutata };
    let c2 = comment.clone();
    update_report(&txn, &r, |q| {
        let q = q
            .col_expr(report::Column::State, Expr::value(new_state))
            .col_expr(report::Column::DecidedBy, Expr::value(me))
            .col_expr(report::Column::DecidedAt, Expr::value(now))
            .col_expr(report::Column::DecisionComment, Expr::value(c2));
        if approve {
            q.col_expr(report::Column::SentAt, Expr::value(now))
        } else {
            q
        }
    })
    .await?;
    let mut entries = Vec::new();
    if approve {
        // An approved segnalazione of a negative residency check: the check is sent.
        if let Some(check_id) = r.residency_check_id {
            entries.extend(mark_check_sent(&txn, check_id).await?);
        }
        // A rectification: the segnalazione it replaces is rectified; an
        // annulment: the segnalazione it withdraws is annulled.
        let kind = match r.rectification_of {
            Some(old_id) if r.annuls => {
                entries.push(mark_replaced(&txn, old_id, ReportState::Annullata).await?);
                PartnerEventKind::SegnalazioneAnnullata
            }
            Some(old_id) => {
                entries.push(mark_replaced(&txn, old_id, ReportState::Rettificata).await?);
                PartnerEventKind::SegnalazioneRettificata
            }
            None => PartnerEventKind::SegnalazioneInviata,
        };
        // INPS collects it from its change feed.
        let (application_id, member_id) = inps_identifiers(&txn, &r).await?;
        crate::outbox::emit(
            &*txn,
            crate::outbox::Event {
                audience: PartnerAudience::Inps,
                kind,
                ambito_id: r.ambito_id,
                comune_istat: r.comune_istat.clone(),
                subject: crate::outbox::Subject::Report(r.id),
                application_id,
                member_id,
            },
        )
        .await?;
    }
    let mut e = AuditEntry::new("report", id, AuditAction::Transition);
    e.ambito_id = Some(r.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(r.state), json!(new_state)),
        ("decided_by", json!(r.decided_by), json!(me)),
        ("decision_comment", json!(r.decision_comment.is_some()), json!(comment.is_some())),
    ]));
    entries.push(e);
    txn.commit(entries).await?;
    Ok(id)
}

/// The segnalazione `old_id`, replaced by its approved rectification or
/// withdrawn by its approved annulment: `INVIATA|ACQUISITA → RETTIFICATA`
/// (or `ANNULLATA`); returns its audit entry.
async fn mark_replaced(txn: &DatabaseTransaction, old_id: Uuid, to: ReportState) -> Result<AuditEntry, AppError> {
    let old = Unscoped::Child
        .find_by_id::<report::Entity>(old_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal(format!("the segnalazione rectified, {old_id}, is missing")))?;
    if !report_allows(old.state, ReportAction::Rectify) {
        return Err(AppError::Conflict(format!(
            "the segnalazione this one rectifies is {}: it can no longer be rectified",
            crate::codes::code(old.state)
        )));
    }
    update_report(txn, &old, |q| q.col_expr(report::Column::State, Expr::value(to))).await?;
    let mut e = AuditEntry::new("report", old.id, AuditAction::Transition);
    e.ambito_id = Some(old.ambito_id);
    e.changes = Some(diff(&[("state", json!(old.state), json!(to))]));
    Ok(e)
}

/// What a rectification says anew: the date of the fact and the facts.
pub struct Rectification {
    pub fact_date: NaiveDate,
    pub description: String,
}

/// Whoever may raise segnalazioni on it: rectifies one already sent to INPS
/// (possible in GePI since December 2020). The rectification is a new
/// segnalazione naming the one it replaces (`rectificationOf`), of the same
/// kind, case, check and member, submitted for the coordinator's approval;
/// once approved it is sent to INPS (a `SEGNALAZIONE_RETTIFICATA` event) and
/// the one it replaces becomes `RETTIFICATA`. One rectification at a time.
pub async fn rectify_report(a: &Acting<'_>, id: Uuid, version: i32, r: Rectification) -> Result<Uuid, AppError> {
    let description = text("input.description", &r.description, 4000)?;
    if r.fact_date > today() {
        return Err(AppError::validation("input.factDate", "must not be in the future"));
    }
    replace_report(a, id, version, Some(r.fact_date), description, false).await
}

/// Whoever may raise segnalazioni on it: asks to annul (withdraw) one already
/// sent to INPS, saying why. The request is a new segnalazione naming it
/// (`rectificationOf`, with `annuls`), for the coordinator's approval, as a
/// rectification is; once approved INPS collects a `SEGNALAZIONE_ANNULLATA`
/// event and the one withdrawn becomes `ANNULLATA`. One request at a time.
pub async fn annul_report(a: &Acting<'_>, id: Uuid, version: i32, reason: &str) -> Result<Uuid, AppError> {
    let reason = text("input.reason", reason, 4000)?;
    replace_report(a, id, version, None, reason, true).await
}

/// A rectification or an annulment of the segnalazione `id`, awaiting approval.
async fn replace_report(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    fact_date: Option<NaiveDate>,
    description: String,
    annuls: bool,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let action = if annuls { "annulReport" } else { "rectifyReport" };
    let txn = a.begin().await?;
    let old = load_report(a, &txn, id, Action::Create).await?;
    check_version("segnalazione", old.version, version)?;
    if !report_allows(old.state, ReportAction::Rectify) {
        return Err(refuse_report(&old, action));
    }
    if old.annuls {
        return Err(AppError::Conflict(format!(
            "{action} is not allowed: this segnalazione annulled another; it is neither rectified nor annulled"
        )));
    }
    let pending = Unscoped::Rule
        .find::<report::Entity>()
        .filter(report::Column::RectificationOf.eq(old.id))
        .filter(report::Column::State.is_in([ReportState::Bozza, ReportState::DaApprovare]))
        .one(&*txn)
        .await?;
    if let Some(p) = pending {
        let what = if p.annuls { "an annulment" } else { "a rectification" };
        return Err(AppError::Conflict(format!("the segnalazione has {what} awaiting approval")));
    }
    // Its version moves: two rectifications raised at once cannot both pass.
    update_report(&txn, &old, |q| q).await?;
    let new_id = insert_report(
        &txn,
        ReportDraft {
            ambito_id: old.ambito_id,
            comune_istat: old.comune_istat.clone(),
            case_id: old.case_id,
            residency_check_id: old.residency_check_id,
            puc_assignment_id: old.puc_assignment_id,
            member_id: old.member_id,
            kind: old.kind,
            state: ReportState::DaApprovare,
            fact_date: fact_date.unwrap_or(old.fact_date),
            description,
            created_by: me,
            rectification_of: Some(old.id),
            annuls,
            override_reason: old.override_reason,
        },
    )
    .await?;
    let mut e = AuditEntry::new("report", new_id, AuditAction::Create);
    e.ambito_id = Some(old.ambito_id);
    e.changes = Some(
        json!({ "rectification_of": old.id, "annuls": annuls, "kind": old.kind, "state": ReportState::DaApprovare, "fact_date": fact_date.unwrap_or(old.fact_date) }),
    );
    txn.commit(vec![e]).await?;
    Ok(new_id)
}

/// What INPS knows a segnalazione by: the application behind it (its case's,
/// or its residency check's) and the member concerned (named by it, or by its
/// check).
async fn inps_identifiers(
    txn: &DatabaseTransaction,
    r: &report::Model,
) -> Result<(Option<Uuid>, Option<Uuid>), AppError> {
    let check = match r.residency_check_id {
        Some(id) => Unscoped::Child.find_by_id::<residency_check::Entity>(id).one(txn).await?,
        None => None,
    };
    let application_id = match (r.case_id, &check) {
        (Some(case_id), _) => {
            Unscoped::Child.find_by_id::<case_file::Entity>(case_id).one(txn).await?.map(|c| c.application_id)
        }
        (None, Some(c)) => c.application_id,
        (None, None) => None,
    };
    Ok((application_id, r.member_id.or(check.as_ref().map(|c| c.member_id))))
}

/// INPS: records its protocol on a segnalazione it collected
/// (`INVIATA → ACQUISITA`). Partners deliver at least once: the same protocol
/// sent again for an acknowledged segnalazione changes nothing; another one is
/// a conflict. Without `version` the check is on the state alone.
pub async fn acknowledge_report(
    a: &Acting<'_>,
    id: Uuid,
    version: Option<i32>,
    protocol: &str,
) -> Result<Uuid, AppError> {
    let protocol = inps_protocol("input.inpsProtocol", protocol)?;
    let txn = a.begin().await?;
    let r = load_report(a, &txn, id, Action::Update).await?;
    if r.inps_ack.as_deref() == Some(protocol.as_str()) {
        return Ok(id);
    }
    // Rectified or annulled before INPS acknowledged it: INPS still records
    // its protocol on it (the state stays `RETTIFICATA` or `ANNULLATA`).
    if matches!(r.state, ReportState::Rettificata | ReportState::Annullata) && r.inps_ack.is_none() {
        let p2 = protocol.clone();
        update_report(&txn, &r, |q| q.col_expr(report::Column::InpsAck, Expr::value(p2))).await?;
        let mut e = AuditEntry::new("report", id, AuditAction::Update);
        e.ambito_id = Some(r.ambito_id);
        e.changes = Some(diff(&[("inps_ack", json!(null), json!(protocol))]));
        txn.commit(vec![e]).await?;
        return Ok(id);
    }
    if let Some(v) = version {
        check_version("segnalazione", r.version, v)?;
    }
    if r.state == ReportState::Acquisita {
        return Err(AppError::conflict_at(
            "input.inpsProtocol",
            "the segnalazione was acknowledged with another protocol",
        ));
    }
    if !report_allows(r.state, ReportAction::Acknowledge) {
        return Err(refuse_report(&r, "acknowledgeReport"));
    }
    let p2 = protocol.clone();
    let written = update_report(&txn, &r, |q| {
        q.col_expr(report::Column::State, Expr::value(ReportState::Acquisita))
            .col_expr(report::Column::InpsAck, Expr::value(p2))
    })
    .await;
    if let Err(e) = written {
        // A retry that raced the first delivery: the same protocol, recorded
        // meanwhile, is what was asked.
        let now = Unscoped::Child.find_by_id::<report::Entity>(id).one(&*txn).await?;
        if now.is_some_and(|n| n.state == ReportState::Acquisita && n.inps_ack.as_deref() == Some(protocol.as_str())) {
            return Ok(id);
        }
        return Err(e);
    }
    let mut e = AuditEntry::new("report", id, AuditAction::Transition);
    e.ambito_id = Some(r.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(r.state), json!(ReportState::Acquisita)),
        ("inps_ack", json!(r.inps_ack), json!(protocol)),
    ]));
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// An INPS protocol: 1 to 40 letters, digits and `-` `/` `.` `_`.
fn inps_protocol(field: &str, v: &str) -> Result<String, AppError> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= 40
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.' | '_'));
    if !ok {
        return Err(AppError::validation(field, "an INPS protocol is 1 to 40 letters, digits and - / . _"));
    }
    Ok(v.to_string())
}

/// A negative residency check whose segnalazione was approved is sent to INPS
/// (`ESITO_NEGATIVO → INVIATO_INPS`); returns its audit entry.
async fn mark_check_sent(txn: &DatabaseTransaction, check_id: Uuid) -> Result<Option<AuditEntry>, AppError> {
    let Some(c) = Unscoped::Child.find_by_id::<residency_check::Entity>(check_id).one(txn).await? else {
        return Ok(None);
    };
    if c.state != ResidencyCheckState::EsitoNegativo {
        return Ok(None);
    }
    let q = residency_check::Entity::update_many()
        .col_expr(residency_check::Column::State, Expr::value(ResidencyCheckState::InviatoInps));
    compare_and_set(txn, &c, q).await?;
    let mut e = AuditEntry::new("residency_check", c.id, AuditAction::Transition);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(diff(&[("state", json!(c.state), json!(ResidencyCheckState::InviatoInps))]));
    Ok(Some(e))
}
