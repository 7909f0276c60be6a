//! The use-case kernel every domain's services share: who acts (`Acting`: the
//! request's gateway and request id), loading the rows an action names under
//! the scope the policies give that action (out of scope answers exactly like
//! missing), the optimistic check (`compare_and_set`), text checks and the
//! before/after of the audit trail.

use sea_orm::{
    sea_query::Expr, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    audit::AuditContext,
    authz::{gateway::Gateway, Action, Scoped},
    error::AppError,
    principal::Actor,
};

/// Who acts and under which request, for the service calls.
pub struct Acting<'a> {
    pub gw: &'a Gateway,
    pub request_id: Option<String>,
}

impl Acting<'_> {
    pub(crate) fn me(&self) -> Result<Uuid, AppError> {
        match self.gw.authz.principal.actor {
            Actor::Operator { operator_id, .. } => Ok(operator_id),
            Actor::ApiClient { .. } => {
                Err(AppError::Forbidden("this is done by an operator, not by an API client".into()))
            }
        }
    }

    pub(crate) fn audit_ctx(&self) -> AuditContext {
        AuditContext::of(&self.gw.authz.principal, self.request_id.clone())
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

/// Compare-and-set (optimistic concurrency): `update` is applied to the row
/// `id` only while it is still at `version`, and moves it to `version + 1`;
/// otherwise someone else changed it first and the answer is `stale`.
pub(crate) async fn compare_and_set<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    what: &str,
    (id_col, id): (E::Column, Uuid),
    (version_col, version): (E::Column, i32),
    update: sea_orm::UpdateMany<E>,
) -> Result<(), AppError> {
    let res = update
        .col_expr(version_col, Expr::value(version + 1))
        .filter(id_col.eq(id))
        .filter(version_col.eq(version))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(stale(what, version + 1, version));
    }
    Ok(())
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
