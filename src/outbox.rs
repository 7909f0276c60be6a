//! The partners' change feed (an outbox). A use case whose change a partner
//! must learn of (INPS: an approved segnalazione, its rectification) writes an
//! event with [`emit`] in the transaction of the change: the event exists if
//! and only if the change committed. Partners read the events of their
//! audience in commit order with a cursor (`partnerEvents(after:)` in
//! `api::partners`), at least once: a partner keeps the last cursor it
//! processed and asks again from there.
//!
//! Commit order: each event takes the next number (`seq`) from the one row
//! of `partner_event_counter`, by an `UPDATE` whose row lock the change holds
//! until it commits or rolls back: the writers of events take turns from their
//! event to their commit, so an event is visible only once every event of a
//! smaller `seq` is, and a cursor on `seq` never passes over one that commits
//! later (a rolled-back number is a gap no reader ever saw). Write the event
//! last, just before the commit: the turn lasts from it to the commit, and
//! the change should take no other lock after it.
//!
//! An event holds what identifies its subject for the partner (INPS's
//! application protocol, the codice fiscale concerned) as it was when the
//! event was written, and a reference to the row (the segnalazione), which the
//! partner reads through the graph under its own row and field rules. Events
//! older than the retention (`GEPI_PARTNER_EVENT_RETENTION_DAYS`) are deleted
//! by the server every hour or by `gepi partner-events purge`.

use chrono::Utc;
use entity::{
    application,
    enums::{PartnerAudience, PartnerEventKind},
    member, partner_event,
};
use sea_orm::{sea_query::Query, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use uuid::Uuid;

use crate::{error::AppError, unscoped::Unscoped};

/// The row an event is about, which the partner reads through the graph.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Report(Uuid),
    ResidencyCheck(Uuid),
    DisadvantageCheck(Uuid),
    Pact(Uuid),
    PucAssignment(Uuid),
    Referral(Uuid),
}

/// An event to write: for whom, what happened, where, about which row, and
/// the application and member INPS knows it by (their protocol and codice
/// fiscale are copied into the event as they are now).
pub struct Event {
    pub audience: PartnerAudience,
    pub kind: PartnerEventKind,
    pub ambito_id: Uuid,
    pub comune_istat: String,
    pub subject: Subject,
    pub application_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
}

/// Writes `e` in the transaction `db` (the change's own), after any other
/// transaction writing an event has committed or rolled back.
pub async fn emit<C: ConnectionTrait>(db: &C, e: Event) -> Result<Uuid, AppError> {
    use partner_event::Column as C;
    let next = Statement::from_string(
        db.get_database_backend(),
        "UPDATE partner_event_counter SET n = n + 1 WHERE id = 1 RETURNING n",
    );
    let seq: i64 = db
        .query_one_raw(next)
        .await?
        .ok_or_else(|| AppError::Internal("the partner event counter is missing".into()))?
        .try_get("", "n")?;
    let protocol = match e.application_id {
        Some(id) => Unscoped::Child.find_by_id::<application::Entity>(id).one(db).await?.map(|a| a.inps_protocol),
        None => None,
    };
    let fiscal_code = match e.member_id {
        Some(id) => Unscoped::Child.find_by_id::<member::Entity>(id).one(db).await?.map(|m| m.fiscal_code),
        None => None,
    };
    let (mut report, mut residency, mut disadvantage, mut pact, mut assignment) = (None, None, None, None, None);
    let mut referral = None;
    match e.subject {
        Subject::Report(id) => report = Some(id),
        Subject::ResidencyCheck(id) => residency = Some(id),
        Subject::DisadvantageCheck(id) => disadvantage = Some(id),
        Subject::Pact(id) => pact = Some(id),
        Subject::PucAssignment(id) => assignment = Some(id),
        Subject::Referral(id) => referral = Some(id),
    }
    let id = Uuid::now_v7();
    let q = Query::insert()
        .into_table(partner_event::Entity)
        .columns([
            C::Id,
            C::Audience,
            C::Kind,
            C::Seq,
            C::AmbitoId,
            C::ComuneIstat,
            C::ReportId,
            C::ResidencyCheckId,
            C::DisadvantageCheckId,
            C::PactId,
            C::PucAssignmentId,
            C::ReferralId,
            C::ApplicationProtocol,
            C::FiscalCode,
            C::OccurredAt,
        ])
        .values_panic([
            id.into(),
            crate::codes::code(e.audience).into(),
            crate::codes::code(e.kind).into(),
            seq.into(),
            e.ambito_id.into(),
            e.comune_istat.into(),
            report.into(),
            residency.into(),
            disadvantage.into(),
            pact.into(),
            assignment.into(),
            referral.into(),
            protocol.into(),
            fiscal_code.into(),
            Utc::now().into(),
        ])
        .to_owned();
    db.execute(&q).await?;
    Ok(id)
}

/// Deletes the events older than `days` days; returns how many.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, days: u32) -> Result<u64, AppError> {
    let before = Utc::now() - chrono::Duration::days(i64::from(days));
    let r = partner_event::Entity::delete_many().filter(partner_event::Column::OccurredAt.lt(before)).exec(db).await?;
    Ok(r.rows_affected)
}
