//! The audit tree's public face, for whoever keeps watch over the trail (the
//! Ministry, a witness, the Garante): the latest signed checkpoint, the key
//! that checks it, and consistency proofs between two sizes of the tree.
//! Nothing here names a person or an event: sizes, hashes and signatures.
//!
//! - `GET /audit/checkpoint`: the latest checkpoint as signed (C2SP
//!   `tlog-checkpoint` in a `signed-note`), `text/plain`.
//! - `GET /audit/key`: the verifier key (`<origin>+<hash>+<key>`).
//! - `GET /audit/consistency?from=M&to=N`: `{"from", "to", "proof": [base64…]}`,
//!   the RFC 9162 consistency proof between the trees of M and N leaves, from
//!   the stored subtrees (a few rows and at most two runs of 256 leaves);
//!   answers are cached, and the endpoint is under the per-address limit of
//!   the anonymous endpoints.

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::Deserialize;

use crate::{error::AppError, state::AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/checkpoint", get(latest))
        .route("/audit/key", get(key))
        .route("/audit/consistency", get(consistency))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn latest(State(state): State<AppState>) -> Result<Response, AppError> {
    let c = crate::audit::log::latest_checkpoint(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("no checkpoint has been signed yet"))?;
    Ok(text(c.note))
}

async fn key(State(state): State<AppState>) -> Result<Response, AppError> {
    let v = state
        .audit_log
        .verifier()
        .ok_or_else(|| AppError::not_found("this server signs no checkpoints (no GEPI_AUDIT_SIGNING_KEY)"))?;
    Ok(text(format!("{}\n", v.to_vkey())))
}

#[derive(Deserialize)]
struct Sizes {
    from: Option<String>,
    to: Option<String>,
}

fn size(v: Option<String>, field: &str) -> Result<u64, AppError> {
    let v = v.ok_or_else(|| AppError::validation(field, format!("`{field}` (a tree size) is required")))?;
    v.parse::<u64>().map_err(|_| AppError::validation(field, format!("`{field}` must be a tree size (0 or more)")))
}

async fn consistency(State(state): State<AppState>, Query(q): Query<Sizes>) -> Result<Response, AppError> {
    let (from, to) = (size(q.from, "from")?, size(q.to, "to")?);
    let proof = state.audit_log.consistency(&state.db, from, to).await?;
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}
