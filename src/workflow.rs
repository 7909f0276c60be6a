//! The use-case kernel every domain's services share: who acts (`Acting`: the
//! request's gateway and request id), one unit of work per use case (`Work`:
//! begin, then commit with the audit entries of the change), loading the rows
//! an action names under the scope the policies give that action (out of scope
//! answers exactly like missing), the optimistic check on `Versioned` rows
//! (`compare_and_set`), text checks and the before/after of the audit trail.

use std::ops::Deref;

use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult,
    ModelTrait, QueryFilter, QueryResult, Statement, TransactionTrait,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    audit::{self, AuditContext, AuditEntry},
    authz::{gateway::Gateway, Action, Scoped},
    error::AppError,
    principal::Actor,
};

/// Who acts and under which request, for the service calls.
pub struct Acting<'a> {
    pub gw: &'a Gateway,
    pub request_id: Option<String>,
    /// The request's operation name, for the audit trail.
    pub operation: Option<String>,
}

impl Acting<'_> {
    /// Opens the unit of work of one use case.
    pub(crate) async fn begin(&self) -> Result<Work, AppError> {
        Ok(Work { txn: self.gw.writes.begin().await?, audit: self.audit_ctx(), principals: self.gw.principals.clone() })
    }

    pub(crate) fn me(&self) -> Result<Uuid, AppError> {
        match self.gw.authz.principal.actor {
            Actor::Operator { operator_id, .. } => Ok(operator_id),
            Actor::ApiClient { .. } => {
                Err(AppError::Forbidden("this is done by an operator, not by an API client".into()))
            }
        }
    }

    pub(crate) fn audit_ctx(&self) -> AuditContext {
        AuditContext::of(&self.gw.authz.principal, self.request_id.clone()).during(self.operation.clone())
    }

    /// Rows of `E` the principal may act on with `action`.
    pub(crate) fn scope<E: Scoped>(&self, action: Action) -> Result<Condition, AppError> {
        let scope = self.gw.authz.scope_for(E::OBJECT, action)?;
        Ok(E::condition(scope, &self.gw.authz.principal))
    }

    /// The row `id` of `E` if the principal may do `action` on it: a row out of
    /// scope is not found, exactly like a missing one.
    pub(crate) async fn load<E: Scoped>(
        &self,
        txn: &DatabaseTransaction,
        id_col: E::Column,
        id: Uuid,
        action: Action,
        (field, what): (&str, &str),
    ) -> Result<E::Model, AppError> {
        E::find()
            .filter(id_col.eq(id))
            .filter(self.scope::<E>(action)?)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::not_found_at(field, format!("no {what} with this id")))
    }

    /// A row an input names besides the one acted on (a member, an operator, an
    /// office slot): read under the actor's read scope, inside the transaction,
    /// before any rule about it. A row out of scope — or of a type the role may
    /// not read — answers exactly like a missing id: `NOT_FOUND` on `field`,
    /// with nothing about the row.
    pub(crate) async fn named<E: Scoped>(
        &self,
        txn: &DatabaseTransaction,
        (id_col, id): (E::Column, Uuid),
        field: &str,
        what: &str,
    ) -> Result<E::Model, AppError> {
        let missing = || AppError::not_found_at(field, format!("no {what} with this id"));
        let Ok(cond) = self.gw.condition::<E>() else { return Err(missing()) };
        E::find().filter(id_col.eq(id)).filter(cond).one(txn).await?.ok_or_else(missing)
    }
}

/// The unit of work of one use case: a transaction that commits only with the
/// audit entries of its changes (`commit` records them first, in the same
/// transaction), so a change never lands without its trail. Dropped without a
/// commit (an error, a refusal), it rolls back. It reads and writes like the
/// transaction it holds.
pub struct Work {
    txn: DatabaseTransaction,
    audit: AuditContext,
    principals: crate::principal::PrincipalEpoch,
}

impl Work {
    /// Records `entries` (who did what, with the before/after of each change),
    /// then commits. A change to who may act (an operator, a profile, a session,
    /// a convention, an API client) then advances the principal epoch, so that no principal
    /// cached before it is served again.
    pub(crate) async fn commit(self, entries: Vec<AuditEntry>) -> Result<(), AppError> {
        let concerns_principals = entries.iter().any(|e| crate::principal::PrincipalEpoch::concerns(e.entity));
        audit::record(&self.txn, &self.audit, entries).await?;
        self.txn.commit().await?;
        if concerns_principals {
            self.principals.advance();
        }
        Ok(())
    }
}

impl Deref for Work {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Work {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// A row under optimistic concurrency: every change moves its `version` on by
/// one, and a change made from a stale version is refused (`CONFLICT`).
pub trait Versioned: ModelTrait {
    /// What the row is, for the stale-version message ("case").
    const WHAT: &'static str;
    fn id_col() -> <Self::Entity as EntityTrait>::Column;
    fn version_col() -> <Self::Entity as EntityTrait>::Column;
    fn row_id(&self) -> Uuid;
    fn row_version(&self) -> i32;
}

macro_rules! versioned {
    ($($m:ident => $what:literal),+ $(,)?) => {$(
        impl Versioned for entity::$m::Model {
            const WHAT: &'static str = $what;
            fn id_col() -> entity::$m::Column {
                entity::$m::Column::Id
            }
            fn version_col() -> entity::$m::Column {
                entity::$m::Column::Version
            }
            fn row_id(&self) -> Uuid {
                self.id
            }
            fn row_version(&self) -> i32 {
                self.version
            }
        }
    )+};
}

versioned! {
    analysis_framework => "Quadro di analisi",
    case_file => "case",
    case_transfer => "transfer",
    case_referral => "referral",
    convention => "convention",
    disadvantage_check => "request",
    meeting => "meeting",
    operator => "operator",
    pact => "pact",
    preliminary_analysis => "analysis",
    profile => "profile",
    puc_assignment => "assignment",
    puc_project => "project",
    report => "segnalazione",
    residency_check => "residency check",
}

/// Compare-and-set (optimistic concurrency): `update` is applied to `row` only
/// while it is still at the version it was read at, and moves it on by one;
/// otherwise someone else changed it first and the answer is `stale`.
pub(crate) async fn compare_and_set<M: Versioned, C: ConnectionTrait>(
    db: &C,
    row: &M,
    update: sea_orm::UpdateMany<M::Entity>,
) -> Result<(), AppError> {
    let version = row.row_version();
    let res = update
        .col_expr(M::version_col(), Expr::value(version + 1))
        .filter(M::id_col().eq(row.row_id()))
        .filter(M::version_col().eq(version))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(stale(M::WHAT, version + 1, version));
    }
    Ok(())
}

/// For an update that may rightly touch no row (it carries its own condition):
/// moves the version on by one in SQL, whatever it is now, so that a concurrent
/// change is never hidden behind a version written back.
pub(crate) fn bump_version<M: Versioned>(update: sea_orm::UpdateMany<M::Entity>) -> sea_orm::UpdateMany<M::Entity> {
    update.col_expr(M::version_col(), Expr::col(M::version_col()).add(1))
}

pub(crate) fn stale(what: &str, current: i32, sent: i32) -> AppError {
    AppError::Conflict(format!(
        "the {what} was changed by someone else (it is at version {current}, the request was for version {sent}); reload it and retry"
    ))
}

pub(crate) fn check_version(what: &str, current: i32, sent: i32) -> Result<(), AppError> {
    if current != sent {
        Err(stale(what, current, sent))
    } else {
        Ok(())
    }
}

pub(crate) fn text(field: &str, v: &str, max: usize) -> Result<String, AppError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(AppError::validation(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(AppError::validation(field, format!("must be at most {max} characters")));
    }
    Ok(t.to_string())
}

/// The days from today to `days` days ahead, both included, for the
/// "expiring within" filters; `days` runs from 0 to ten years.
pub fn within_days(field: &str, days: i32) -> Result<(chrono::NaiveDate, chrono::NaiveDate), AppError> {
    if !(0..=3650).contains(&days) {
        return Err(AppError::validation(field, "must be between 0 and 3650 days"));
    }
    let today = crate::calendar::today();
    Ok((today, today + chrono::Duration::days(i64::from(days))))
}

/// A range of days given as a filter: `from` must not be after `to`.
pub fn check_range(field: &str, r: &crate::calendar::DayRange) -> Result<(), AppError> {
    if r.is_reversed() {
        return Err(AppError::validation(field, "`from` is after `to`"));
    }
    Ok(())
}

pub(crate) fn opt_text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => text(field, t, max).map(Some),
    }
}

/// The changed fields of an update, for the audit trail.
pub(crate) fn diff(pairs: &[(&str, Value, Value)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, before, after) in pairs {
        if before != after {
            m.insert((*k).to_string(), json!({ "before": before, "after": after }));
        }
    }
    Value::Object(m)
}
