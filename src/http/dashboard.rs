//! `/dashboard`: charts and tables from `stats` for an analyst or an
//! operational role, served whole from the binary like GraphiQL: the page,
//! its own script (`assets/dashboard/gepi-dashboard.js`) and Chart.js's
//! production build (the npm package pinned in
//! `tools/ecosystem/package-lock.json`, checked byte for byte in `.ci/run`).
//! Nothing is fetched from elsewhere, and the Content-Security-Policy says so.
//! In demo mode the page offers the demo login; otherwise it asks as the
//! browser's session (SPID).

use axum::{
    extract::{Path, State},
    response::Response,
};

use super::graphiql::{asset_of, page_of, Asset, JS};
use crate::state::AppState;

/// The files under `/dashboard/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "chart.umd.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/dashboard/chart.umd.min.js"),
    },
    Asset {
        name: "gepi-dashboard.js",
        content_type: JS,
        body: include_bytes!("../../assets/dashboard/gepi-dashboard.js"),
    },
];

/// Scripts from this server only; styles from this server and inline (the
/// page's own, and Chart.js sizes its canvases); requests to this server only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /dashboard`.
pub async fn page(State(state): State<AppState>) -> Response {
    let login = if state.config.dev_login {
        r#"<form id="gepi-login" hidden><label>Accesso demo <select></select></label> <button type="submit">Entra</button></form> <span id="gepi-login-status">Non connesso.</span>"#
    } else {
        r#"<span id="gepi-login-status"></span> <a href="/">Accedi con SPID</a>"#
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="it">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GePI — Cruscotto</title>
<link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; color: #222; }}
header {{ padding: 8px 16px; border-bottom: 1px solid #ddd; display: flex; gap: 16px; align-items: center; }}
header h1 {{ font-size: 18px; margin: 0; }}
#panels {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; padding: 16px; }}
.panel {{ border: 1px solid #ddd; border-radius: 6px; padding: 12px; overflow-x: auto; }}
.panel h2 {{ font-size: 15px; margin: 0 0 6px; }}
.note {{ font-size: 12px; color: #555; }}
table.cells {{ border-collapse: collapse; font-size: 12px; margin-top: 8px; }}
table.cells th, table.cells td {{ border: 1px solid #eee; padding: 2px 6px; text-align: right; }}
table.cells th {{ text-align: left; font-weight: 500; }}
td.suppressed {{ color: #a00; background: repeating-linear-gradient(45deg, #fff, #fff 3px, #f3dede 3px, #f3dede 6px); text-align: center; }}
</style>
</head>
<body>
<header><h1>GePI — Cruscotto</h1>{login}</header>
<main id="panels"></main>
<script src="/dashboard/assets/chart.umd.min.js"></script>
<script src="/dashboard/assets/gepi-dashboard.js"></script>
</body>
</html>
"#
    );
    page_of(html, CSP)
}

/// `GET /dashboard/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    asset_of(ASSETS, &name)
}
