//! The field guard and the request's authorization state, for resolvers: a
//! field the role cannot read is `None` with a redaction at its path, and a
//! field of case content that is shown records its row as read (the audit
//! trail of reads). The decisions are `authz`'s; this is how a resolver asks.

use std::sync::Arc;

use async_graphql::Context;
use uuid::Uuid;

use crate::{
    audit::reads::Owner,
    authz::{FieldKey, FieldScope, RequestAuthz},
    error::AppError,
};

/// The request's authorization state, or `UNAUTHENTICATED`.
pub fn request_authz<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Arc<RequestAuthz>> {
    use crate::error::ResultExt;
    match ctx.data_opt::<Arc<RequestAuthz>>() {
        Some(a) => Ok(a),
        None => {
            // No principal: report why (anonymous, expired...).
            super::context::principal(ctx)?;
            Err(AppError::Unauthenticated("authentication required".into())).gql()
        }
    }
}

/// Field guard for resolvers: the value when the role may read `key` on this row,
/// otherwise `None` and a redaction entry at the field's path.
pub fn show<T>(ctx: &Context<'_>, key: FieldKey, own_row: bool, value: impl FnOnce() -> T) -> Option<T> {
    let authz = ctx.data_opt::<Arc<RequestAuthz>>()?;
    show_in(authz, || ctx.path_node.map(|n| n.to_string_vec()).unwrap_or_default(), key, own_row, value)
}

/// The field guard itself, for any reader of a field (the resolvers through
/// [`show`], the compiled reads of `api::compiled` with the path they keep).
pub fn show_in<T>(
    authz: &RequestAuthz,
    path: impl FnOnce() -> Vec<String>,
    key: FieldKey,
    own_row: bool,
    value: impl FnOnce() -> T,
) -> Option<T> {
    match authz.field_scope(key) {
        Some(FieldScope::Any) => Some(value()),
        Some(FieldScope::Own) if own_row => Some(value()),
        Some(FieldScope::Own) => {
            authz.redact(path(), format!("{key} is shown to the role {} only on its own rows", authz.role().as_str()));
            None
        }
        None => {
            authz.redact(path(), format!("the role {} may not read {key}", authz.role().as_str()));
            None
        }
    }
}

/// For the audit trail: the field `key` of this row is in the response (shown
/// to the role, not null); the row is recorded as read, once per request.
pub fn audit_read(ctx: &Context<'_>, key: FieldKey, row: (&'static str, Uuid), owner: impl FnOnce() -> Owner) {
    if let Some(authz) = ctx.data_opt::<Arc<RequestAuthz>>() {
        authz.record_read(key, row, owner);
    }
}
