//! Use cases of the disadvantage validation.

use chrono::{Duration, NaiveDate, Utc};
use entity::{disadvantage_check, enums::*};
use sea_orm::{sea_query::Expr, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use super::model::{disadvantage_due, disadvantage_expired, DISADVANTAGE_RESPONSE_DAYS};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    authz::Action,
    calendar::today,
    error::AppError,
    workflow::{check_version, compare_and_set, diff, opt_text, Acting},
};

/// Validator: takes a request into verification, or decides it (confirmed or
/// not, with notes). Refused once decided, and once expired by silence.
pub async fn decide(
    a: &Acting<'_>,
    id: Uuid,
    version: i32,
    decision: Option<bool>,
    notes: Option<String>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let notes = opt_text("input.notes", notes.as_deref(), 4000)?;
    if decision == Some(false) && notes.is_none() {
        return Err(AppError::validation("input.notes", "say why the condition is not confirmed"));
    }
    let txn = a.begin().await?;
    let d = a
        .load::<disadvantage_check::Entity>(
            &txn,
            disadvantage_check::Column::Id,
            id,
            Action::Update,
            ("input.checkId", "disadvantage validation request"),
        )
        .await?;
    check_version("request", d.version, version)?;
    if !matches!(d.state, DisadvantageState::Ricevuta | DisadvantageState::InVerifica) {
        return Err(AppError::Conflict(format!(
            "the request is {}: it was already decided; allowed now: nothing",
            crate::codes::code(d.state)
        )));
    }
    if disadvantage_expired(&d, today()) {
        return Err(AppError::Conflict(format!(
            "the request expired on {} without an answer and counts as confirmed (silenzio-assenso); allowed now: nothing",
            disadvantage_due(d.received_on)
        )));
    }
    let new_state = match decision {
        None => {
            if d.state == DisadvantageState::InVerifica {
                return Err(AppError::Conflict("the request is IN_VERIFICA already; allowed now: decide".into()));
            }
            DisadvantageState::InVerifica
        }
        Some(true) => DisadvantageState::Confermata,
        Some(false) => DisadvantageState::NonConfermata,
    };
    let now = Utc::now();
    let mut q =
        disadvantage_check::Entity::update_many().col_expr(disadvantage_check::Column::State, Expr::value(new_state));
    if decision.is_some() {
        q = q
            .col_expr(disadvantage_check::Column::Notes, Expr::value(notes.clone()))
            .col_expr(disadvantage_check::Column::DecidedBy, Expr::value(me))
            .col_expr(disadvantage_check::Column::DecidedAt, Expr::value(now))
            // The decision goes to INPS's change feed, below.
            .col_expr(disadvantage_check::Column::SentToInpsAt, Expr::value(now));
    }
    compare_and_set(&txn, &d, q).await?;
    let mut e = AuditEntry::new("disadvantage_check", d.id, AuditAction::Transition);
    e.ambito_id = Some(d.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(d.state), json!(new_state)),
        ("notes", json!(d.notes.is_some()), json!(notes.is_some() || d.notes.is_some())),
    ]));
    // INPS asked for the validation: it collects the decision.
    if decision.is_some() {
        crate::outbox::emit(
            &txn,
            crate::outbox::Event {
                audience: PartnerAudience::Inps,
                kind: PartnerEventKind::EsitoSvantaggio,
                ambito_id: d.ambito_id,
                comune_istat: d.certifying_comune_istat.clone(),
                subject: crate::outbox::Subject::DisadvantageCheck(d.id),
                application_id: None,
                member_id: Some(d.member_id),
            },
        )
        .await?;
    }
    txn.commit(vec![e]).await?;
    Ok(d.id)
}

/// Requests left undecided past their 60 days count as confirmed
/// (silenzio-assenso): each goes to INPS's change feed once, as
/// `SILENZIO_ASSENSO`, and is marked sent (`sent_to_inps_at`), in one
/// transaction per request; the server runs it every hour, and several
/// instances may run it at once (the mark is taken by one). Returns how many.
pub async fn expire_by_silence(db: &DatabaseConnection, today: NaiveDate) -> Result<u64, AppError> {
    let received_before = today - Duration::days(DISADVANTAGE_RESPONSE_DAYS);
    let due = crate::unscoped::Unscoped::System
        .find::<disadvantage_check::Entity>()
        .filter(disadvantage_check::Column::State.is_in([DisadvantageState::Ricevuta, DisadvantageState::InVerifica]))
        .filter(disadvantage_check::Column::SentToInpsAt.is_null())
        .filter(disadvantage_check::Column::ReceivedOn.lt(received_before))
        .all(db)
        .await?;
    let ctx = AuditContext::unattributed(ActorKind::System, Some("silenzio-assenso".into()));
    let mut n = 0;
    for d in due.into_iter().filter(|d| disadvantage_expired(d, today)) {
        let txn = db.begin().await?;
        // The version moves: a decision read before it is then stale.
        let taken =
            crate::workflow::bump_version::<disadvantage_check::Model>(disadvantage_check::Entity::update_many())
                .col_expr(disadvantage_check::Column::SentToInpsAt, Expr::value(Utc::now()))
                .filter(disadvantage_check::Column::Id.eq(d.id))
                .filter(disadvantage_check::Column::SentToInpsAt.is_null())
                .filter(
                    disadvantage_check::Column::State
                        .is_in([DisadvantageState::Ricevuta, DisadvantageState::InVerifica]),
                )
                .exec(&txn)
                .await?;
        if taken.rows_affected != 1 {
            continue;
        }
        let mut e = AuditEntry::new("disadvantage_check", d.id, AuditAction::Update);
        e.ambito_id = Some(d.ambito_id);
        e.changes = Some(json!({ "expired_by_silence": true, "due_on": disadvantage_due(d.received_on) }));
        audit::record(&txn, &ctx, vec![e]).await?;
        crate::outbox::emit(
            &txn,
            crate::outbox::Event {
                audience: PartnerAudience::Inps,
                kind: PartnerEventKind::SilenzioAssenso,
                ambito_id: d.ambito_id,
                comune_istat: d.certifying_comune_istat.clone(),
                subject: crate::outbox::Subject::DisadvantageCheck(d.id),
                application_id: None,
                member_id: Some(d.member_id),
            },
        )
        .await?;
        txn.commit().await?;
        n += 1;
    }
    Ok(n)
}
