//! The bulk endpoint of the INPS feed, for `inps_feed` keys:
//!
//! - `POST /inps/feed`: the feed as the body (`application/x-ndjson`: the
//!   header line, then one record a line), read as it arrives, each record
//!   applied as `gepi import inps` applies it. The answer is the job's report
//!   (its id, the counts, the first rejected rows); a body that is not a feed
//!   of this version is refused whole (400, nothing applied).
//! - `GET /inps/feed/jobs/{id}`: a job of the same key, its state and counts,
//!   and every row it rejected.
//!
//! Who may send: the policies' grant `create` on `Application` (the feed
//! creates applications, households and cases); a key limited to an Ambito
//! may send records of that Ambito's Comuni only (others are rejected as an
//! unknown Comune would be). These routes have their own body limit
//! (`GEPI_FEED_BODY_LIMIT_BYTES`) and no request timeout: a feed of a hundred
//! thousand records takes a minute.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::{
    authz::{
        vocab::{Action, Object, Scope},
        RequestAuthz,
    },
    error::AppError,
    inps::service::{self, Source},
    principal::{Actor, Authn},
    state::AppState,
};

pub const FEED_PATH: &str = "/inps/feed";

pub fn routes() -> Router<AppState> {
    Router::new().route(FEED_PATH, post(receive)).route("/inps/feed/jobs/{id}", get(job))
}

/// The key sending the feed, and the Ambito it is limited to (None: national).
async fn sender(state: &AppState, headers: &HeaderMap) -> Result<(Uuid, Option<Uuid>), AppError> {
    if crate::auth::token_from_headers(headers).is_none() {
        return Err(AppError::Unauthenticated(
            "the feed is sent with an API key: `Authorization: Bearer gepi_…`".into(),
        ));
    }
    let authn = super::authenticate(state, headers, false).await;
    let Authn::Authenticated(p) = &authn else {
        return Err(authn.principal().err().unwrap_or_else(|| AppError::Unauthenticated("not authenticated".into())));
    };
    let Actor::ApiClient { client_id } = p.actor else {
        return Err(AppError::Forbidden("the INPS feed is sent with an API key, not by an operator's session".into()));
    };
    let authz = RequestAuthz::new(p.clone(), state.policy.clone());
    let only_ambito = match authz.scope_for(Object::Application, Action::Create)? {
        Scope::National => None,
        Scope::Ambito if p.ambito_id.is_some() => p.ambito_id,
        _ => return Err(AppError::Forbidden(format!("the role {} may not send the INPS feed", p.role.as_str()))),
    };
    Ok((client_id, only_ambito))
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let (client_id, only_ambito) = match sender(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let ndjson = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|ct| ct == "application/x-ndjson" || ct == "application/jsonl");
    if !ndjson {
        let err =
            AppError::validation("Content-Type", "the feed is sent as application/x-ndjson: one JSON object a line");
        let mut resp = err.into_response();
        *resp.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return resp;
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio::io::BufReader::with_capacity(256 * 1024, tokio_util::io::StreamReader::new(stream));
    // In a task of its own: a sender that goes away mid-feed leaves a job
    // closed as failed, with what was applied so far (sending it again
    // applies the rest), never one left running.
    let db = state.db.clone();
    let source = Source::Api { client_id, only_ambito };
    let days = state.config.transfer_decision_days;
    let replica = state.replica.clone();
    let task = tokio::spawn(async move {
        let outcome = service::import(&db, source, days, reader, |_| {}).await;
        // The sender's next reads see what it applied, on every instance.
        if let Some(r) = replica {
            r.wrote(&db, client_id).await;
        }
        outcome
    });
    match task.await {
        Ok(Ok(report)) => (StatusCode::OK, Json(report)).into_response(),
        Ok(Err((job, e))) => {
            // After the job opened: its id, to read back what was applied.
            let status = e.code().status();
            let mut body = e.http_body();
            if let Some(job) = job {
                body["jobId"] = serde_json::json!(job);
            }
            let status = if matches!(e, AppError::Limit(_)) { StatusCode::PAYLOAD_TOO_LARGE } else { status };
            (status, Json(body)).into_response()
        }
        Err(join) => AppError::internal(format!("the feed's task: {join}")).into_response(),
    }
}

async fn job(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (client_id, _) = match sender(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return AppError::not_found("no feed job with this id").into_response();
    };
    match service::job(&state.db, id, Some(client_id)).await {
        Ok((job, rejections)) => Json(serde_json::json!({
            "jobId": job.id,
            "feedId": job.feed_id,
            "state": job.state,
            "received": job.received,
            "applied": job.applied,
            "unchanged": job.unchanged,
            "rejected": job.rejected,
            "error": job.error,
            "startedAt": job.started_at,
            "finishedAt": job.finished_at,
            "rejections": rejections,
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}
