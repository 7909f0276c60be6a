//! `POST /auth/dev-login`.
//!
//! The dev login trusts the codice fiscale it is given: it exists only with
//! `--demo` or `GEPI_DEV_LOGIN=true`, and the server refuses to start with it on a
//! non-loopback address (see `Config::validate_for_serve`). SPID replaces it in
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

pub async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<DevLoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
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
