//! What every login method ends in: opening a session for an accredited
//! operator (audited), and logging out (the HTTP endpoint `POST /auth/logout`
//! in `http`, the `logout` mutation, SPID single logout).

use axum::http::HeaderMap;
use chrono::Utc;
use entity::enums::{ActorKind, AuditAction, AuthMethod};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::session;
use crate::principal::PendingSession;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    config::Config,
    error::AppError,
    households::model::CodiceFiscale,
    operators::service as operators,
};

/// Which profile the new session is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSelection {
    /// This one (it must be the operator's and in force).
    Given(Uuid),
    /// The only profile in force; several are a validation error.
    OnlyOne,
    /// The only profile in force; with several, none: the operator chooses after
    /// logging in (SPID).
    OnlyOneOrChooseLater,
}

/// A session just opened, and the profile it is bound to (None: to be chosen).
#[derive(Debug, Clone)]
pub struct Opened {
    pub session: session::IssuedSession,
    pub operator_id: Uuid,
    pub profile: Option<entity::profile::Model>,
}

/// Opens a session for an accredited operator with a profile in force, and
/// audits the login. An operator without any profile in force is refused.
#[allow(clippy::too_many_arguments)]
pub async fn open_session(
    db: &sea_orm::DatabaseConnection,
    config: &Config,
    cf: &CodiceFiscale,
    selection: ProfileSelection,
    method: AuthMethod,
    level: i16,
    saml: Option<session::SamlIdentity>,
    request_id: Option<String>,
) -> Result<Opened, AppError> {
    let now = Utc::now();
    let op = operators::active_operator_by_fiscal_code(db, cf)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("no accredited operator has this codice fiscale".into()))?;
    let today = crate::calendar::today();
    let profile = match selection {
        ProfileSelection::Given(pid) => Some(operators::profile_for_login(db, op.id, pid, today).await?),
        ProfileSelection::OnlyOne | ProfileSelection::OnlyOneOrChooseLater => {
            let mut all = operators::profiles_in_force(db, op.id, today).await?;
            match all.len() {
                0 => return Err(AppError::Forbidden("the operator has no profile in force".into())),
                1 => Some(all.remove(0)),
                _ if selection == ProfileSelection::OnlyOneOrChooseLater => None,
                n => {
                    return Err(AppError::validation(
                        "profileId",
                        format!("the operator has {n} profiles: choose one with profileId"),
                    ))
                }
            }
        }
    };
    let idp = saml.as_ref().map(|s| s.idp_entity_id.clone());
    let new =
        session::NewSession { operator_id: op.id, profile_id: profile.as_ref().map(|p| p.id), method, level, saml };
    // The session, the operator's last login and the audit entry commit together
    // (one connection, one transaction): no session without its audit.
    let txn = db.begin().await?;
    let issued = session::issue(&txn, config, new, now).await?;
    let ctx = AuditContext {
        operator_id: Some(op.id),
        profile_id: profile.as_ref().map(|p| p.id),
        role: profile.as_ref().map(|p| p.role),
        ambito_id: profile.as_ref().and_then(|p| p.ambito_id),
        ..AuditContext::unattributed(ActorKind::Operator, request_id)
    };
    let mut entry = AuditEntry::new("session", issued.session_id, AuditAction::Login);
    entry.changes = Some(match idp {
        Some(idp) => serde_json::json!({ "method": method, "level": level, "idp": idp }),
        None => serde_json::json!({ "method": method, "level": level }),
    });
    audit::record(&txn, &ctx, vec![entry]).await?;
    txn.commit().await?;
    tracing::info!(session = %issued.session_id, role = ?profile.as_ref().map(|p| p.role), method = ?method, "login");
    Ok(Opened { session: issued, operator_id: op.id, profile })
}

/// The request's id, set by the server for every request (see `http::server_request_id`).
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(64).collect())
}

/// The audit context of an operator's session, with or without a profile.
pub fn session_audit_context(
    session: PendingSession,
    principal: Option<&crate::principal::Principal>,
    request_id: Option<String>,
) -> AuditContext {
    match principal {
        Some(p) => AuditContext::of(p, request_id),
        None => AuditContext {
            operator_id: Some(session.operator_id),
            ..AuditContext::unattributed(ActorKind::Operator, request_id)
        },
    }
}

/// Revokes an operator's session and audits it, then ends the principals this
/// instance holds in memory (`epoch`), even when the audit row failed after the
/// revocation landed.
pub async fn logout_session<C: sea_orm::ConnectionTrait>(
    db: &C,
    epoch: &crate::principal::PrincipalEpoch,
    session: PendingSession,
    principal: Option<&crate::principal::Principal>,
    request_id: Option<String>,
) -> Result<(), AppError> {
    let out = async {
        session::revoke(db, session.session_id, Utc::now()).await?;
        let ctx = session_audit_context(session, principal, request_id);
        audit::record(db, &ctx, vec![AuditEntry::new("session", session.session_id, AuditAction::Logout)]).await
    }
    .await;
    epoch.advance();
    out
}
