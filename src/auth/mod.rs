//! Authentication: turns a request's credentials (a session token as
//! `Authorization: Bearer` or the session cookie) into a `Principal`, the
//! (operator, active profile, role, Ambito, Comuni) every authorization decision
//! starts from. Sessions come from SPID (`crate::spid`, feature `spid`) or from
//! the dev login; API keys for integration partners map to the `ApiClient` actor.

pub mod api_key;
pub mod cache;
pub mod graphql;
pub mod login;
pub mod session;

use axum::http::{header, HeaderMap};

/// Name of the session cookie set for browsers.
pub const SESSION_COOKIE: &str = "gepi_session";

/// The session token a request carries: the bearer token first, then the cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    bearer_token(headers).or_else(|| cookie_token(headers))
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?.trim();
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(|t| t.trim().to_string())
}

/// Whether a request that authenticates with the cookie comes from another
/// site (CSRF): browsers say so in `Sec-Fetch-Site`, and in an `Origin` whose
/// host is not the request's. A bearer token cannot be sent by another site,
/// so it is not subject to this.
pub fn cookie_used_cross_site(headers: &HeaderMap) -> bool {
    if bearer_token(headers).is_some() || cookie_token(headers).is_none() {
        return false;
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site") | Some("same-site")) {
        return true;
    }
    origin_is_own_host(headers) == Some(false)
}

/// Whether the request's `Origin` names its own `Host`: `None` when either is
/// missing or the origin is `null`.
fn origin_is_own_host(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null")?;
    let (_, origin_host) = origin.split_once("://")?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok())?;
    Some(origin_host.eq_ignore_ascii_case(host))
}

/// Whether a state-changing request (a POST) authenticated by the session cookie
/// fails to prove it comes from GePI's own pages. Browsers send
/// `Sec-Fetch-Site`, or at least an `Origin`, on every POST; it must say
/// `same-origin`, or name the request's own host. `Origin: null` (sandboxed
/// frames, some redirects), another host, or neither header is refused. A
/// bearer token cannot be attached by another site, so it needs no proof.
pub fn cookie_post_not_same_origin(headers: &HeaderMap) -> bool {
    if bearer_token(headers).is_some() || cookie_token(headers).is_none() {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site != "same-origin";
    }
    origin_is_own_host(headers) != Some(true)
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of the cookie `name`, from any `Cookie` header of the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` value carrying a session token.
pub fn session_cookie(token: &str, max_age_secs: i64) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}")
}

/// `Set-Cookie` value carrying a session opened by single sign-on: the ACS
/// answers the IdP's cross-site POST and redirects, so the cookie must be sent
/// on that top-level navigation (Lax); mutations need POST with JSON, which
/// browsers do not send cross-site with Lax cookies.
pub fn sso_session_cookie(token: &str, max_age_secs: i64) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age_secs}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}
