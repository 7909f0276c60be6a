//! Use cases of residency checks.

use chrono::{Duration, NaiveDate, Utc};
use entity::{comune, enums::*, member, operator, profile, profile_comune, residency_check, residency_period};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
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
    operators::service::profile_in_force,
    reports::service::{insert_report, ReportDraft},
    territory::model::IstatCode,
    workflow::{check_version, compare_and_set, diff, text, Acting},
};

fn allowed_actions(s: ResidencyCheckState) -> &'static str {
    use ResidencyCheckState::*;
    match s {
        DaAssegnare | Inoltrato => "assignResidencyCheck",
        Assegnato => "assignResidencyCheck, recordResidencyPeriods, resumeResidencyCheck (periods already recorded)",
        InLavorazione => "assignResidencyCheck, recordResidencyPeriods, forwardResidencyCheck, finaliseResidencyCheck",
        InAttesaInteressato => "recordResidencyPeriods, finaliseResidencyCheck",
        EsitoNegativo => "decideReport (coordinator, on its segnalazione)",
        EsitoPositivo | InviatoInps => "nothing",
    }
}

fn refuse(c: &residency_check::Model, action: &str) -> AppError {
    AppError::Conflict(format!(
        "{action} is not allowed: the check is {}; allowed now: {}",
        crate::codes::code(c.state),
        allowed_actions(c.state)
    ))
}

async fn load(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    id: Uuid,
    action: Action,
) -> Result<residency_check::Model, AppError> {
    a.load::<residency_check::Entity>(
        txn,
        residency_check::Column::Id,
        id,
        action,
        ("input.checkId", "residency check"),
    )
    .await
}

/// Compare-and-set of a check.
async fn update(
    txn: &DatabaseTransaction,
    c: &residency_check::Model,
    set: impl FnOnce(sea_orm::UpdateMany<residency_check::Entity>) -> sea_orm::UpdateMany<residency_check::Entity>,
) -> Result<(), AppError> {
    let q = set(residency_check::Entity::update_many());
    compare_and_set(txn, c, q).await
}

fn entry(c: &residency_check::Model, action: AuditAction, changes: serde_json::Value) -> AuditEntry {
    let mut e = AuditEntry::new("residency_check", c.id, action);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(changes);
    e
}

async fn comune_row(txn: &DatabaseTransaction, field: &str, istat: &str) -> Result<comune::Model, AppError> {
    let code = IstatCode::parse_at(field, istat)?;
    Unscoped::Reference
        .find_by_id::<comune::Entity>(code.as_str().to_string())
        .one(txn)
        .await?
        .ok_or_else(|| AppError::validation(field, format!("no Comune with ISTAT code {code}")))
}

/// Coordinator: assigns a check of its Comuni to an officer covering the Comune.
pub async fn assign(a: &Acting<'_>, id: Uuid, version: i32, officer: Uuid) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = load(a, &txn, id, Action::Assign).await?;
    check_version("residency check", c.version, version)?;
    use ResidencyCheckState::*;
    if !matches!(c.state, DaAssegnare | Assegnato | Inoltrato | InLavorazione) {
        return Err(refuse(&c, "assignResidencyCheck"));
    }
    let op = a.named::<operator::Entity>(&txn, (operator::Column::Id, officer), "input.officerId", "operator").await?;
    let profiles = Unscoped::Rule
        .find::<profile::Entity>()
        .filter(profile::Column::OperatorId.eq(officer))
        .filter(profile::Column::Role.eq(Role::RegistryCheckOfficer))
        .all(&txn)
        .await?;
    let mut covers = false;
    for p in profiles.iter().filter(|p| profile_in_force(p, today())) {
        covers |= Unscoped::Rule
            .find::<profile_comune::Entity>()
            .filter(profile_comune::Column::ProfileId.eq(p.id))
            .filter(profile_comune::Column::ComuneIstat.eq(c.current_comune_istat.clone()))
            .one(&txn)
            .await?
            .is_some();
    }
    if op.status != OperatorStatus::Active || !covers {
        return Err(AppError::validation(
            "input.officerId",
            "not a Responsabile per i controlli anagrafici in force for the Comune holding the check",
        ));
    }
    let new_state = if c.state == InLavorazione { InLavorazione } else { Assegnato };
    update(&txn, &c, |q| {
        q.col_expr(residency_check::Column::OfficerId, Expr::value(officer))
            .col_expr(residency_check::Column::State, Expr::value(new_state))
    })
    .await?;
    let e = entry(
        &c,
        AuditAction::Assign,
        diff(&[("officer_id", json!(c.officer_id), json!(officer)), ("state", json!(c.state), json!(new_state))]),
    );
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// A period to record.
pub struct Period {
    pub comune_istat: String,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

/// Officer: records residence periods from its Comune's registry.
pub async fn record_periods(a: &Acting<'_>, id: Uuid, version: i32, periods: Vec<Period>) -> Result<Uuid, AppError> {
    let me = a.me()?;
    if periods.is_empty() || periods.len() > 50 {
        return Err(AppError::validation("input.periods", "between 1 and 50 periods"));
    }
    let txn = a.begin().await?;
    let c = load(a, &txn, id, Action::Update).await?;
    check_version("residency check", c.version, version)?;
    use ResidencyCheckState::*;
    if !matches!(c.state, Assegnato | InLavorazione | InAttesaInteressato) {
        return Err(refuse(&c, "recordResidencyPeriods"));
    }
    let existing = Unscoped::Child
        .find::<residency_period::Entity>()
        .filter(residency_period::Column::CheckId.eq(c.id))
        .all(&txn)
        .await?;
    let mut spans: Vec<(NaiveDate, NaiveDate)> =
        existing.iter().map(|p| (p.from_on, p.to_on.unwrap_or(today()))).collect();
    for (i, p) in periods.iter().enumerate() {
        let field = format!("input.periods[{i}]");
        comune_row(&txn, &format!("{field}.comuneIstat"), &p.comune_istat).await?;
        if p.from > today() || p.to.is_some_and(|t| t > today()) {
            return Err(AppError::validation(format!("{field}.from"), "periods cannot be in the future"));
        }
        if p.to.is_some_and(|t| t < p.from) {
            return Err(AppError::validation(format!("{field}.to"), "ends before it starts"));
        }
        let span = (p.from, p.to.unwrap_or(today()));
        if spans.iter().any(|(f, t)| span.0 <= *t && *f <= span.1) {
            return Err(AppError::validation(format!("{field}.from"), "overlaps a period already recorded"));
        }
        spans.push(span);
    }
    for p in &periods {
        residency_period::ActiveModel {
            id: Set(Uuid::now_v7()),
            check_id: Set(c.id),
            comune_istat: Set(p.comune_istat.trim().to_string()),
            from_on: Set(p.from),
            to_on: Set(p.to),
            entered_by: Set(Some(me)),
            entered_in_comune: Set(c.current_comune_istat.clone()),
        }
        .insert(&txn)
        .await?;
    }
    update(&txn, &c, |q| q.col_expr(residency_check::Column::State, Expr::value(InLavorazione))).await?;
    let e = entry(
        &c,
        AuditAction::Update,
        json!({ "periods_added": periods.len(), "state": { "before": c.state, "after": InLavorazione } }),
    );
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// Officer: forwards the check to the previous Comune of residence (or, when that
/// is unknown, to the Comune of birth); that Comune's coordinator and officers take
/// it over, with 20 days (30 when it returns to the Comune of residence).
pub async fn forward(a: &Acting<'_>, id: Uuid, version: i32, to: Option<String>) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = load(a, &txn, id, Action::Update).await?;
    check_version("residency check", c.version, version)?;
    if c.state != ResidencyCheckState::InLavorazione {
        return Err(refuse(&c, "forwardResidencyCheck"));
    }
    let target = match to {
        Some(code) => comune_row(&txn, "input.toComune", &code).await?,
        None => {
            let m = Unscoped::Child
                .find_by_id::<member::Entity>(c.member_id)
                .one(&txn)
                .await?
                .ok_or_else(|| AppError::internal("check without member"))?;
            Unscoped::Reference
                .find::<comune::Entity>()
                .filter(comune::Column::BelfioreCode.eq(m.birth_place_code.clone()))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    AppError::validation(
                        "input.toComune",
                        "the Comune of birth is not on GePI (born abroad or unknown): name the Comune to forward to",
                    )
                })?
        }
    };
    if target.istat_code == c.current_comune_istat {
        return Err(AppError::validation("input.toComune", "the check is already with this Comune"));
    }
    let days = if target.istat_code == c.owning_comune_istat { RESIDENCE_COMUNE_DAYS } else { PREVIOUS_COMUNE_DAYS };
    let due = today() + Duration::days(days);
    let now = Utc::now();
    update(&txn, &c, |q| {
        q.col_expr(residency_check::Column::CurrentComuneIstat, Expr::value(target.istat_code.clone()))
            .col_expr(residency_check::Column::AmbitoId, Expr::value(target.ambito_id))
            .col_expr(residency_check::Column::OfficerId, Expr::value(Option::<Uuid>::None))
            .col_expr(residency_check::Column::State, Expr::value(ResidencyCheckState::Inoltrato))
            .col_expr(residency_check::Column::DueOn, Expr::value(due))
            .col_expr(residency_check::Column::ForwardedAt, Expr::value(now))
    })
    .await?;
    let mut e = entry(
        &c,
        AuditAction::Transition,
        diff(&[
            ("current_comune_istat", json!(c.current_comune_istat), json!(target.istat_code)),
            ("state", json!(c.state), json!(ResidencyCheckState::Inoltrato)),
            ("due_on", json!(c.due_on), json!(due)),
        ]),
    );
    // The receiving Ambito's trail sees the check arrive.
    let mut arrived = e.clone();
    arrived.ambito_id = Some(target.ambito_id);
    e.ambito_id = Some(c.ambito_id);
    let mut entries = vec![e];
    if target.ambito_id != c.ambito_id {
        entries.push(arrived);
    }
    txn.commit(entries).await?;
    Ok(c.id)
}

/// Why an outcome contradicts the requirement computed from the periods.
pub struct Override {
    pub reason: ResidencyOverrideReason,
    pub note: String,
}

/// Officer of a Comune holding a check that came back (forwarded and returned)
/// and was assigned again: takes it back into work on the periods already
/// recorded, by any Comune, without recording new ones (`ASSEGNATO →
/// IN_LAVORAZIONE`).
pub async fn resume(a: &Acting<'_>, id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = load(a, &txn, id, Action::Update).await?;
    check_version("residency check", c.version, version)?;
    if c.state != ResidencyCheckState::Assegnato {
        return Err(refuse(&c, "resumeResidencyCheck"));
    }
    // Back home: a Comune the check was forwarded to records its own periods.
    if c.current_comune_istat != c.owning_comune_istat || c.forwarded_at.is_none() {
        return Err(AppError::Conflict(
            "resumeResidencyCheck is not allowed: only a check back at the Comune of residence after forwarding \
             resumes on the periods already recorded; record this Comune's periods (recordResidencyPeriods)"
                .into(),
        ));
    }
    let recorded = Unscoped::Child
        .find::<residency_period::Entity>()
        .filter(residency_period::Column::CheckId.eq(c.id))
        .one(&txn)
        .await?
        .is_some();
    if !recorded {
        return Err(AppError::Conflict(
            "resumeResidencyCheck is not allowed: no period is recorded on the check yet; record them \
             (recordResidencyPeriods)"
                .into(),
        ));
    }
    update(&txn, &c, |q| q.col_expr(residency_check::Column::State, Expr::value(ResidencyCheckState::InLavorazione)))
        .await?;
    let e = entry(
        &c,
        AuditAction::Transition,
        diff(&[("state", json!(c.state), json!(ResidencyCheckState::InLavorazione))]),
    );
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// Officer of the Comune of residence: finalises the outcome. A negative outcome
/// raises a segnalazione for the coordinator; an outcome that cannot be
/// determined convenes the person within 30 days. A positive or negative outcome
/// that contradicts the requirement computed from the recorded periods needs a
/// coded reason and its account: both are kept on the check, and the reason on
/// its segnalazione, where the coordinator deciding it (and INPS) see it.
pub async fn finalise(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    outcome: ResidencyOutcome,
    overriding: Option<Override>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let overriding = match overriding {
        Some(o) => Some((o.reason, text("input.overrideNote", &o.note, 2000)?)),
        None => None,
    };
    let txn = a.begin().await?;
    let c = load(a, &txn, id, Action::Update).await?;
    check_version("residency check", c.version, version)?;
    use ResidencyCheckState::*;
    if !matches!(c.state, InLavorazione | InAttesaInteressato) {
        return Err(refuse(&c, "finaliseResidencyCheck"));
    }
    if c.current_comune_istat != c.owning_comune_istat {
        return Err(AppError::Conflict(
            "finaliseResidencyCheck is not allowed: only the Comune of residence finalises; forward the check back to it".into(),
        ));
    }
    let periods: Vec<(NaiveDate, Option<NaiveDate>)> = Unscoped::Child
        .find::<residency_period::Entity>()
        .filter(residency_period::Column::CheckId.eq(c.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| (p.from_on, p.to_on))
        .collect();
    let met = summarise(&periods, today()).requirement_met;
    let contradicts = match outcome {
        ResidencyOutcome::Positivo => !met,
        ResidencyOutcome::Negativo => met,
        ResidencyOutcome::NonDeterminabile => false,
    };
    let overriding = match (contradicts, overriding) {
        (true, None) => {
            return Err(AppError::validation(
                "input.overrideReason",
                format!(
                    "the recorded periods give requirementMet: {met}: an outcome {} that contradicts them needs \
                     overrideReason and overrideNote",
                    crate::codes::code(outcome)
                ),
            ))
        }
        (false, Some(_)) => {
            return Err(AppError::validation(
                "input.overrideReason",
                "the outcome agrees with the requirement computed from the periods: there is nothing to override",
            ))
        }
        (_, o) => o,
    };
    let (reason, note) = (overriding.as_ref().map(|o| o.0), overriding.map(|o| o.1));
    let now = Utc::now();
    let (state, final_outcome, due) = match outcome {
        ResidencyOutcome::Positivo => (EsitoPositivo, Some(outcome), c.due_on),
        ResidencyOutcome::Negativo => (EsitoNegativo, Some(outcome), c.due_on),
        ResidencyOutcome::NonDeterminabile => (InAttesaInteressato, None, today() + Duration::days(CONVENE_DAYS)),
    };
    update(&txn, &c, |q| {
        let q = q
            .col_expr(residency_check::Column::State, Expr::value(state))
            .col_expr(residency_check::Column::Outcome, Expr::value(final_outcome))
            .col_expr(residency_check::Column::DueOn, Expr::value(due))
            .col_expr(residency_check::Column::OverrideReason, Expr::value(reason))
            .col_expr(residency_check::Column::OverrideNote, Expr::value(note));
        if final_outcome.is_some() {
            q.col_expr(residency_check::Column::FinalisedAt, Expr::value(now))
        } else {
            q
        }
    })
    .await?;
    let mut entries = vec![entry(
        &c,
        AuditAction::Transition,
        diff(&[
            ("state", json!(c.state), json!(state)),
            ("outcome", json!(c.outcome), json!(final_outcome)),
            ("override_reason", json!(c.override_reason), json!(reason)),
        ]),
    )];
    if outcome == ResidencyOutcome::Negativo {
        let rid = insert_report(
            &txn,
            ReportDraft {
                ambito_id: c.ambito_id,
                comune_istat: c.owning_comune_istat.clone(),
                case_id: None,
                residency_check_id: Some(c.id),
                puc_assignment_id: None,
                member_id: Some(c.member_id),
                kind: ReportKind::RequisitoResidenza,
                state: ReportState::DaApprovare,
                fact_date: today(),
                description: "Requisito di residenza non soddisfatto all'esito del controllo anagrafico.".into(),
                created_by: me,
                rectification_of: None,
                annuls: false,
                override_reason: reason,
            },
        )
        .await?;
        let mut e = AuditEntry::new("report", rid, AuditAction::Create);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(
            json!({ "residency_check_id": c.id, "kind": ReportKind::RequisitoResidenza, "state": ReportState::DaApprovare, "override_reason": reason }),
        );
        entries.push(e);
    }
    // INPS requested the check: it collects the outcome.
    if final_outcome.is_some() {
        crate::outbox::emit(
            &txn,
            crate::outbox::Event {
                audience: PartnerAudience::Inps,
                kind: PartnerEventKind::EsitoControlloAnagrafico,
                ambito_id: c.ambito_id,
                comune_istat: c.owning_comune_istat.clone(),
                subject: crate::outbox::Subject::ResidencyCheck(c.id),
                application_id: c.application_id,
                member_id: Some(c.member_id),
            },
        )
        .await?;
    }
    txn.commit(entries).await?;
    Ok(c.id)
}
