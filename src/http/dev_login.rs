//! `POST /auth/dev-login`.
//!
//! The dev login trusts the codice fiscale it is given: it exists only with
//! `--demo` or `GEPI_DEV_LOGIN=true`, and the server refuses to start with it on a
//! non-loopback address (see `Config::validate_for_serve`). It also answers
//! only requests addressed to a loopback name ([`loopback_host`]): a page of
//! another site whose DNS name is rebound to 127.0.0.1 would otherwise be
//! same-origin with it and could log in as anyone. SPID replaces it in
//! production; both end in [`crate::auth::login::open_session`].

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use entity::enums::AuthMethod;
use serde::{Deserialize, Serialize};

use crate::{
    auth::{
        login::{open_session, request_id, ProfileSelection},
        session_cookie,
    },
    error::AppError,
    households::model::CodiceFiscale,
    ids,
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

/// Refuses a request whose `Host` is not a loopback name (`localhost`,
/// `127.x.x.x`, `[::1]`, with or without a port). A request without `Host`
/// (HTTP/1.0, in-process tests) cannot come from a browser page and passes.
pub fn loopback_host(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(host) = headers.get(header::HOST) else { return Ok(()) };
    let host = host.to_str().unwrap_or_default().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host.as_str(), |(name, _)| name),
    };
    let loopback = name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(AppError::Forbidden("the dev login answers only requests addressed to a loopback name".into()))
    }
}

pub async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<DevLoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    loopback_host(&headers)?;
    let Json(body) = body.map_err(|e| AppError::Validation { field: None, message: e.body_text() })?;
    let cf = CodiceFiscale::parse(&body.fiscal_code).map_err(|e| AppError::validation("fiscalCode", e.to_string()))?;
    let selection = match body.profile_id.as_deref() {
        Some(p) => ProfileSelection::Given(ids::decode_uuid("profileId", "Profile", p)?),
        None => ProfileSelection::OnlyOne,
    };
    let opened =
        open_session(&state.db, &state.config, &cf, selection, AuthMethod::Dev, 0, None, request_id(&headers)).await?;
    let issued = opened.session;
    let cookie = session_cookie(&issued.token, state.config.session_lifetime_secs);
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        Json(LoginResponse { token: issued.token, expires_at: issued.expires_at }),
    )
        .into_response())
}
