//! The thin shared authorization layer.
//!
//! casbin decides what a role may do and under which scope (compiled once at
//! start-up, see [`policy`]); SQL decides which rows (see [`rows`]); every read
//! goes through the [`gateway::Gateway`], which always applies the row condition.
//! Fields a role cannot read are never selected, come back `null`, and are listed
//! in `extensions.redactions`.

pub mod gateway;
pub mod keys;
pub mod policy;
pub mod rows;
pub mod stats;
pub mod strict;
pub mod vocab;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use entity::enums::Role;
use uuid::Uuid;

pub use policy::Policy;
pub use rows::{find_under, Scoped};
pub use vocab::{Action, Class, FieldScope, Object, Scope};

use crate::{
    audit::reads::{Owner, Read, Reads},
    error::AppError,
    principal::Principal,
};

/// Largest page a role may ask for; analysts get no rows at all.
pub fn page_cap(role: Role) -> u64 {
    match role {
        Role::Analyst => 0,
        Role::InpsFeed | Role::CpiPartner => 500,
        _ => 100,
    }
}

/// The key of a field of the schema, `Type.field`, as the field rules know it.
/// Only the generated [`keys`] name one (its field is private to this module):
/// a misspelt key does not compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey(&'static str);

impl FieldKey {
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A field left out of the response, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Redaction {
    pub path: Vec<String>,
    pub reason: String,
}

/// Authorization state of one request: the principal, the compiled policy, the
/// redactions made and the rows whose content was read (for the audit trail).
pub struct RequestAuthz {
    pub principal: Principal,
    pub policy: Arc<Policy>,
    redactions: Mutex<Vec<Redaction>>,
    reads: Mutex<Reads>,
}

impl RequestAuthz {
    pub fn new(principal: Principal, policy: Arc<Policy>) -> Self {
        RequestAuthz { principal, policy, redactions: Mutex::default(), reads: Mutex::default() }
    }

    pub fn role(&self) -> Role {
        self.principal.role
    }

    /// The scope under which the role reads `object`, or `FORBIDDEN`.
    pub fn read_scope(&self, object: Object) -> Result<Scope, AppError> {
        self.policy
            .grant(self.role(), object, Action::Read)
            .map(|s| self.narrow(s))
            .ok_or_else(|| AppError::Forbidden(format!("the role {} may not read {object}", self.role().as_str())))
    }

    /// The scope under which the role may do `action` on `object`, or `FORBIDDEN`.
    pub fn scope_for(&self, object: Object, action: Action) -> Result<Scope, AppError> {
        self.policy
            .grant(self.role(), object, action)
            .map(|s| self.narrow(s))
            .ok_or_else(|| AppError::Forbidden(format!("the role {} may not {action} {object}", self.role().as_str())))
    }

    /// An API key created for one Ambito (`gepi apikey create --ambito`) works in
    /// that Ambito only, even when its role's grant is national: every read and
    /// write it makes is narrowed here, the one place scopes are handed out.
    pub(crate) fn narrow(&self, scope: Scope) -> Scope {
        match (&self.principal.actor, self.principal.ambito_id, scope) {
            (crate::principal::Actor::ApiClient { .. }, Some(_), Scope::National) => Scope::Ambito,
            _ => scope,
        }
    }

    pub fn can_read(&self, object: Object) -> bool {
        self.policy.grant(self.role(), object, Action::Read).is_some()
    }

    /// The field rule for `key` (None: denied).
    pub fn field_scope(&self, key: FieldKey) -> Option<FieldScope> {
        self.field_scope_named(key.as_str())
    }

    /// The field rule for `Type.field` spelt out (the gateway's projection and
    /// strict mode build keys from the schema). Fields of ungoverned types are
    /// readable; a key the policies do not know on a governed type is denied
    /// (fails closed, never open).
    fn field_scope_named(&self, key: &str) -> Option<FieldScope> {
        match self.policy.field(self.role(), key) {
            Some(d) => d.scope,
            None => {
                let governed = key.split_once('.').is_some_and(|(ty, _)| ty.parse::<Object>().is_ok());
                if governed {
                    tracing::error!(key, "a field key the policies do not know: denied");
                    None
                } else {
                    Some(FieldScope::Any)
                }
            }
        }
    }

    /// Rejects filtering or ordering by a field the role cannot read on every row.
    pub fn require_field(&self, key: FieldKey, what: &str) -> Result<(), AppError> {
        match self.field_scope(key) {
            Some(FieldScope::Any) => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "{what} by `{key}` is not allowed: the role {} cannot read that field on every row",
                self.role().as_str()
            ))),
        }
    }

    /// Rejects a `toReassign` filter on the owner field `key`: it tells whether
    /// another operator holds a profile in force, which only roles reading the
    /// profiles of the Ambito (or nationally) may know.
    pub fn require_reassign(&self, key: FieldKey) -> Result<(), AppError> {
        self.require_field(key, "filtering")?;
        match self.scope_for(Object::Profile, Action::Read) {
            Ok(Scope::Ambito | Scope::National) => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "filtering by `{key}` for work to reassign is not allowed: the role {} does not read the profiles of the Ambito",
                self.role().as_str()
            ))),
        }
    }

    pub fn redact(&self, path: Vec<String>, reason: impl Into<String>) {
        self.redactions.lock().expect("redactions lock").push(Redaction { path, reason: reason.into() });
    }

    pub fn take_redactions(&self) -> Vec<Redaction> {
        std::mem::take(&mut *self.redactions.lock().expect("redactions lock"))
    }

    /// Records that the field `key` of the row `(entity, id)` is in the response
    /// (the caller checked that it is shown): once per row, with every class read.
    pub fn record_read(&self, key: FieldKey, (entity, id): (&'static str, Uuid), owner: impl FnOnce() -> Owner) {
        let class = self.policy.class_of(key.as_str()).unwrap_or(Class::Public);
        let mut reads = self.reads.lock().expect("reads lock");
        reads
            .entry((entity, id))
            .or_insert_with(|| Read { owner: owner(), classes: BTreeSet::new() })
            .classes
            .insert(class.as_str());
    }

    pub fn take_reads(&self) -> Reads {
        std::mem::take(&mut *self.reads.lock().expect("reads lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Actor;

    /// Keys spelt out (the gateway's projection, strict mode) fail closed on a
    /// governed type; typed keys cannot be misspelt at all.
    #[tokio::test]
    async fn field_keys_of_governed_types_fail_closed() {
        let policy =
            Policy::load(include_str!("../../schema.graphql"), keys::OWN_ROW_TYPES).await.expect("policies load");
        let principal = Principal {
            actor: Actor::Operator { operator_id: Uuid::nil(), profile_id: Uuid::nil(), session_id: Uuid::nil() },
            role: Role::PaisCoordinator,
            ambito_id: Some(Uuid::nil()),
            comuni: Arc::new(vec![]),
            terms: None,
        };
        let authz = RequestAuthz::new(principal, Arc::new(policy));
        assert_eq!(authz.field_scope(keys::case::STATE), Some(FieldScope::Any), "a known public field");
        assert_eq!(authz.field_scope(keys::case::HOUSEHOLD), None, "a known denied field");
        assert!(authz.require_field(keys::case::HOUSEHOLD, "filtering").is_err());
        assert_eq!(authz.field_scope_named("Case.state"), Some(FieldScope::Any));
        assert_eq!(authz.field_scope_named("Case.caseManagr"), None, "a misspelt key of a governed type");
        assert_eq!(
            authz.field_scope_named("PageInfo.hasNextPage"),
            Some(FieldScope::Any),
            "ungoverned types are readable"
        );
    }
}
