//! `POST /auth/dev-login` and `POST /auth/logout`.
//!
//! The dev login trusts the codice fiscale it is given: it exists only with
//! `--demo` or `GEPI_DEV_LOGIN=true`, and the server refuses to start with it on a
//! non-loopback address (see `Config::validate_for_serve`). SPID replaces it in
//! production; both end in [`open_session`].

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use entity::enums::{ActorKind, AuditAction, AuthMethod};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{clear_session_cookie, session, session_cookie, token_from_headers};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    error::AppError,
    households::model::CodiceFiscale,
    ids,
    operators::service as operators,
    state::AppState,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevLoginRequest {
    pub fiscal_code: String,
    /// Global id of the profile; may be left out when the operator has exactly one.
    pub profile_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for an accredited operator with one of their profiles in force,
/// and audits the login. Shared by every login method.
pub async fn open_session(
    state: &AppState,
    cf: &CodiceFiscale,
    profile_id: Option<Uuid>,
    method: AuthMethod,
    level: i16,
    request_id: Option<String>,
) -> Result<session::IssuedSession, AppError> {
    let now = Utc::now();
    let db = &state.db;
    let op = operators::active_operator_by_fiscal_code(db, cf)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("no accredited operator has this codice fiscale".into()))?;
    let today = crate::cases::model::today();
    let profile = match profile_id {
        Some(pid) => operators::profile_for_login(db, op.id, pid, today).await?,
        None => {
            let mut all = operators::profiles_in_force(db, op.id, today).await?;
            match all.len() {
                0 => return Err(AppError::Forbidden("the operator has no profile in force".into())),
                1 => all.remove(0),
                n => {
                    return Err(AppError::validation(
                        "profileId",
                        format!("the operator has {n} profiles: choose one with profileId"),
                    ))
                }
            }
        }
    };
    let issued = session::issue(db, &state.config, op.id, profile.id, method, level, now).await?;
    let ctx = AuditContext {
        actor_kind: ActorKind::Operator,
        operator_id: Some(op.id),
        profile_id: Some(profile.id),
        api_client_id: None,
        role: Some(profile.role),
        ambito_id: profile.ambito_id,
        request_id,
    };
    let mut entry = AuditEntry::new("session", issued.session_id, AuditAction::Login);
    entry.changes = Some(serde_json::json!({ "method": method, "level": level }));
    audit::record(db, &ctx, vec![entry]).await?;
    tracing::info!(session = %issued.session_id, role = ?profile.role, method = ?method, "login");
    Ok(issued)
}

pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(64).collect())
}

pub async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<DevLoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| AppError::Validation { field: None, message: e.body_text() })?;
    let cf = CodiceFiscale::parse(&body.fiscal_code).map_err(|e| AppError::validation("fiscalCode", e.to_string()))?;
    let profile_id = body
        .profile_id
        .as_deref()
        .map(|p| ids::decode_uuid("profileId", "Profile", p))
        .transpose()?;
    let issued = open_session(&state, &cf, profile_id, AuthMethod::Dev, 0, request_id(&headers)).await?;
    let cookie = session_cookie(&issued.token, state.config.session_lifetime_secs);
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        Json(LoginResponse { token: issued.token, expires_at: issued.expires_at }),
    )
        .into_response())
}

/// Revokes the session the request carries and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let token = token_from_headers(&headers)
        .ok_or_else(|| AppError::Unauthenticated("no session to log out of".into()))?;
    let principal = session::authenticate(&state.db, &state.config, &token, Utc::now()).await?;
    logout_principal(&state.db, &principal, request_id(&headers)).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear_session_cookie())]).into_response())
}

/// Revokes the principal's session and audits it.
pub async fn logout_principal<C: sea_orm::ConnectionTrait>(
    db: &C,
    principal: &super::Principal,
    request_id: Option<String>,
) -> Result<(), AppError> {
    let Some(sid) = principal.session_id() else {
        return Err(AppError::Validation { field: None, message: "API keys have no session to log out of".into() });
    };
    session::revoke(db, sid, Utc::now()).await?;
    audit::record(db, &AuditContext::of(principal, request_id), vec![AuditEntry::new("session", sid, AuditAction::Logout)])
        .await
}
