//! `/graphiql`: GraphiQL served whole from the binary, so that it works on an
//! office network without internet. The page, GraphiQL's production build and
//! React's are embedded at build time (`assets/graphiql/`: the files of the npm
//! packages pinned in `tools/ecosystem/package-lock.json`, checked byte for
//! byte in `.ci/run`); nothing is fetched from elsewhere, and the page's
//! Content-Security-Policy says so to the browser.
//!
//! In demo mode (the dev login on) the page offers a small form to log in as
//! one of the demo operators, listed by `GET /auth/dev-login`.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use crate::{error::AppError, state::AppState};

/// One embedded file (of GraphiQL's page and of the dashboard's).
pub(super) struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

pub(super) const JS: &str = "text/javascript; charset=utf-8";

/// An embedded page, with its Content-Security-Policy, never cached.
pub(super) fn page_of(html: String, csp: &'static str) -> Response {
    let mut resp = axum::response::Html(html).into_response();
    resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The file `name` of `assets`, or 404.
pub(super) fn asset_of(assets: &[Asset], name: &str) -> Response {
    match assets.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.content_type)),
                // The files change only with the binary.
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            a.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The files under `/graphiql/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset { name: "graphiql.min.js", content_type: JS, body: include_bytes!("../../assets/graphiql/graphiql.min.js") },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "gepi-graphiql.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/gepi-graphiql.js"),
    },
];

/// Scripts and styles from this server only (GraphiQL sets inline styles),
/// requests to this server only, in no frame.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// `GET /graphiql`.
pub async fn page(State(state): State<AppState>) -> Response {
    let login = if state.config.dev_login {
        r#"<form id="gepi-login" hidden><label>Demo login <select></select></label> <button type="submit">Log in</button> <span id="gepi-login-status">Not logged in: the schema shows what an anonymous caller sees.</span></form>"#
    } else {
        r#"<p id="gepi-login-status">Send your session's token in the Headers tab: <code>{"Authorization": "Bearer …"}</code></p>"#
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="it">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GePI GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
<style>html, body {{ height: 100%; margin: 0; font-family: system-ui, sans-serif; }} body {{ display: flex; flex-direction: column; }} #gepi-bar {{ padding: 6px 12px; border-bottom: 1px solid #ddd; font-size: 14px; }} #gepi-bar form, #gepi-bar p {{ margin: 0; }} #graphiql {{ flex: 1; min-height: 0; }}</style>
</head>
<body>
<div id="gepi-bar">{login}</div>
<div id="graphiql"></div>
<script src="/graphiql/assets/react.production.min.js"></script>
<script src="/graphiql/assets/react-dom.production.min.js"></script>
<script src="/graphiql/assets/graphiql.min.js"></script>
<script src="/graphiql/assets/gepi-graphiql.js"></script>
</body>
</html>
"#
    );
    // The inline <style> above is allowed by 'unsafe-inline' for styles only.
    page_of(html, CSP)
}

/// `GET /graphiql/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    asset_of(ASSETS, &name)
}

/// `GET /auth/dev-login` (only with the dev login on): one operator per role,
/// as `serve --demo` prints them.
pub async fn demo_logins(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<crate::operators::service::RoleLogin>>, AppError> {
    super::dev_login::loopback_host(&headers)?;
    Ok(Json(crate::operators::service::one_per_role(&state.db).await?))
}
