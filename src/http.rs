//! The HTTP surface: `/graphql` (POST; GET for queries only), `/graphiql`,
//! `/healthz`, `/readyz`, and `/auth/*`. Tower layers give every request an id
//! (echoed as `x-request-id`), a timeout and a body limit. Access logs carry the
//! method, path, status and latency, never query strings or bodies (they hold
//! personal data).

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    extract::State,
    http::{HeaderMap, Method, Request, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::Utc;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    auth::{self, dev_login, Authn},
    error::{AppError, ResultExt},
    graphql::RequestId,
    state::AppState,
};

/// The application router; `main` serves it and the tests call it in process.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/graphql", get(graphql_handler).post(graphql_handler))
        .route("/graphiql", get(graphiql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/auth/logout", post(dev_login::logout));
    if state.config.dev_login {
        router = router.route("/auth/dev-login", post(dev_login::dev_login));
    }
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let body_limit = state.config.body_limit_bytes;
    router
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Authn {
    let Some(token) = auth::token_from_headers(headers) else { return Authn::Anonymous };
    match auth::session::authenticate(&state.db, &state.config, &token, Utc::now()).await {
        Ok(p) => Authn::Authenticated(p),
        Err(AppError::Unauthenticated(reason)) => Authn::Rejected(reason),
        Err(other) => {
            // A database failure is not the client's fault: log it, refuse the session.
            let _ = Err::<(), _>(other).gql();
            Authn::Rejected("the session could not be checked; try again".into())
        }
    }
}

async fn graphql_handler(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let mut req = req.into_inner();
    if method == Method::GET && !is_query_only(&req.query) {
        let err = AppError::Validation {
            field: None,
            message: "GET requests may only run queries; send mutations with POST".into(),
        };
        let resp = async_graphql::Response::from_errors(vec![
            async_graphql::ErrorExtensions::extend(&err).into_server_error(async_graphql::Pos::default()),
        ]);
        return (StatusCode::METHOD_NOT_ALLOWED, GraphQLResponse::from(resp)).into_response();
    }
    let authn = authenticate(&state, &headers).await;
    if let Some(id) = dev_login::request_id(&headers) {
        req = req.data(RequestId(id));
    }
    req = req.data(authn);
    GraphQLResponse::from(state.schema.execute(req).await).into_response()
}

/// Whether every operation of a document is a query (unparseable documents pass
/// through, so that the executor reports the syntax error).
fn is_query_only(query: &str) -> bool {
    use async_graphql::parser::types::OperationType;
    match async_graphql::parser::parse_query(query) {
        Ok(doc) => doc.operations.iter().all(|(_, op)| op.node.ty == OperationType::Query),
        Err(_) => true,
    }
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("GePI GraphiQL").finish())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match crate::db::ping(&state.db).await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ready" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database unavailable" })))
                .into_response()
        }
    }
}
