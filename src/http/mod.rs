//! The HTTP surface: `/graphql` (POST; GET for queries only), `/graphiql`,
//! `/healthz`, `/readyz`, and `/auth/*`. Tower layers give every request the
//! server's own id (echoed as `x-request-id`; a client's id is kept beside it as
//! `x-client-request-id`), a timeout and a body limit. One access log line per
//! request at INFO carries the method, path, status, duration, request ids, the
//! W3C trace context (`traceparent`: trace and parent ids) and, for GraphQL, the
//! operation name, the role and the outcome code; never query strings, query
//! text, variables or bodies (they hold personal data).

mod audit_log;
mod dashboard;
mod dev_login;
mod feed;
mod graphiql;
#[cfg(feature = "spid")]
mod spid;
mod trusted;

use std::{net::SocketAddr, time::Duration};

use async_graphql::ParseRequestError;
use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, Method, Request, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::Utc;
use tower_http::{
    limit::RequestBodyLimitLayer, request_id::PropagateRequestIdLayer, timeout::TimeoutLayer, trace::TraceLayer,
};
use trusted::GraphQLBody;

use std::sync::Arc;

use crate::{
    audit::{self, AuditContext},
    auth::{self, login},
    authz::{gateway::Gateway, RequestAuthz},
    error::{AppError, ResultExt},
    graphql::{limits::Metered, relations::Loaders, RequestId},
    principal::{Actor, Authn},
    ratelimit::{QuotaRefusal, QuotaState},
    state::AppState,
};

/// The application router; `main` serves it and the tests call it in process.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route(
            "/graphql",
            get(graphql_handler).post(graphql_handler).layer(axum::middleware::from_fn(graphql_json_only)),
        )
        .route("/", get(home))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/assets/{name}", get(dashboard::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/auth/logout", post(logout))
        .merge(audit_log::routes());
    if state.config.dev_login {
        router = router.route("/auth/dev-login", post(dev_login::dev_login).get(graphiql::demo_logins));
    }
    #[cfg(feature = "spid")]
    if state.spid.is_some() {
        router = router.merge(spid::routes());
    }
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let body_limit = state.config.body_limit_bytes;
    // The INPS feed: its own body limit, and no timeout (a feed takes minutes).
    let feed = feed::routes()
        .with_state(state.clone())
        .layer(RequestBodyLimitLayer::new(state.config.feed_body_limit_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_refusals));
    router
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit_logins))
        .with_state(state.clone())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(state, count_refusals))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(feed)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let header =
                        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
                    let (trace_id, parent_id) = trace_context(req.headers()).unwrap_or(("-", "-"));
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %header("x-request-id"),
                        client_request_id = %header("x-client-request-id"),
                        trace_id = %trace_id,
                        parent_id = %parent_id,
                        operation = tracing::field::Empty,
                        role = tracing::field::Empty,
                        outcome = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        duration_ms = %format!("{:.2}", latency.as_secs_f64() * 1000.0),
                        "served"
                    )
                }),
        )
        .layer(axum::middleware::map_request(server_request_id))
}

/// The principal of a request. `state_changing` (a POST): the session cookie
/// must come with proof of a same-origin request.
async fn authenticate(state: &AppState, headers: &HeaderMap, state_changing: bool) -> Authn {
    let Some(token) = auth::token_from_headers(headers) else { return Authn::Anonymous };
    if auth::cookie_used_cross_site(headers) {
        return Authn::Rejected(
            "the session cookie is not accepted on requests from another site; send the token as a bearer token".into(),
        );
    }
    if state_changing && auth::cookie_post_not_same_origin(headers) {
        return Authn::Rejected(
            "the session cookie is accepted on a POST only from GePI's own pages (Sec-Fetch-Site: same-origin, or an Origin naming this host); send the token as a bearer token otherwise".into(),
        );
    }
    match state.principals.authenticate(&state.db, &state.config, &token, Utc::now()).await {
        Ok(a) => a,
        Err(AppError::Unauthenticated(reason)) => Authn::Rejected(reason),
        Err(e @ AppError::Unavailable { .. }) => Authn::Unchecked(e),
        Err(other) => {
            // A database failure is not the client's fault: log it, refuse the session.
            let _ = Err::<(), _>(other).gql();
            Authn::Rejected("the session could not be checked; try again".into())
        }
    }
}

/// `/graphql`: checks the operation's bounds, runs it, then logs (on the
/// request's span) and counts its operation name, role and outcome. The name is
/// one of the document's operations (the one `operationName` names, or the only
/// one), and is labelled only for an authenticated caller: an anonymous one
/// cannot fill the metric's labels with names of its choosing.
async fn graphql_handler(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: GraphQLBody,
) -> Response {
    let started = std::time::Instant::now();
    let GraphQLBody { mut req, document_id } = body;
    let span = tracing::Span::current();
    let graphql_response = accepts_graphql_response(&headers);
    let refuse = |err: AppError, status: Option<StatusCode>| {
        state.metrics.graphql_request(None, err.code().as_str(), started.elapsed().as_secs_f64());
        answer(error_response(&err), graphql_response, status, false)
    };
    // A trusted document named by its id: the text is the one the caller's key
    // registered (authentication comes first, to know whose documents).
    let mut authn = None;
    match trusted::named(document_id, &req) {
        Err(e) => return refuse(e, Some(StatusCode::BAD_REQUEST)),
        Ok(None) => {}
        Ok(Some(hash)) => {
            let a = authenticate(&state, &headers, method != Method::GET).await;
            if let Err(e) = trusted::resolve(&a, &hash, &mut req.query) {
                // A query that is not the document named is malformed; the
                // rest (who asks, an unknown document) answer as any refusal.
                let status = matches!(e, AppError::Validation { .. }).then_some(StatusCode::BAD_REQUEST);
                return refuse(e, status);
            }
            authn = Some(a);
        }
    }
    // A request without a document is malformed (GraphQL over HTTP: 400).
    if req.query.trim().is_empty() {
        let err = AppError::validation(
            "query",
            "a GraphQL request needs a `query` (the operation document) or a `documentId` naming a registered one",
        );
        return refuse(err, Some(StatusCode::BAD_REQUEST));
    }
    // Bounds first: a flood of tokens or aliases costs nothing beyond counting.
    let (status, resp, operation, executed) = match state.checked_documents.check(&req.query) {
        Err(e) => (None, error_response(&e), None, false),
        Ok(checked) => {
            let operations = &checked.operations;
            let named = match req.operation_name.as_deref() {
                Some(n) => operations.iter().flatten().find(|o| o.as_str() == n).cloned(),
                None if operations.len() == 1 => operations[0].clone(),
                None => None,
            };
            let mutation = checked.document.as_ref().is_some_and(|doc| {
                crate::graphql::shape::operation(doc, req.operation_name.as_deref())
                    .is_some_and(|op| op.ty == async_graphql::parser::types::OperationType::Mutation)
            });
            let operation = named.filter(|n| operation_name(Some(n)).is_some());
            if let Some(name) = &operation {
                span.record("operation", tracing::field::display(name));
            }
            let meter = std::sync::OnceLock::new();
            let (mut a, counts) = crate::metrics::counted(run_graphql(
                &state,
                method,
                headers,
                req,
                (&checked, operation.clone(), mutation),
                &meter,
                authn,
            ))
            .await;
            if let Some(outcome) = meter.get().and_then(|m| m.outcome()) {
                quota_answer(&state, &mut a, outcome);
            }
            state.metrics.graphql_statements.observe(counts.statements as f64);
            state.metrics.audit_events.inc_by(counts.audit_events);
            let operation = if a.authenticated { operation } else { Some("unauthenticated".into()) };
            // A mutation that ran may have committed before the database went
            // away: its answer is not the 503 that invites a blind retry.
            let status = a.status.or((mutation && a.executed).then_some(StatusCode::OK));
            (status, a.resp, operation, a.executed)
        }
    };
    let outcome =
        resp.errors.first().map(|e| error_code(e).unwrap_or("INTERNAL").to_string()).unwrap_or_else(|| "OK".into());
    span.record("outcome", tracing::field::display(&outcome));
    for e in &resp.errors {
        let code = error_code(e).filter(|c| ERROR_CODES.contains(c)).unwrap_or("INTERNAL");
        state.metrics.graphql_errors.with_label_values(&[code]).inc();
    }
    state.metrics.graphql_request(operation.as_deref(), &outcome, started.elapsed().as_secs_f64());
    answer(resp, graphql_response, status, executed)
}

/// Whether nothing of `resp` was executed: no data, and no error at a path.
fn is_request_error(resp: &async_graphql::Response) -> bool {
    resp.data == async_graphql::Value::Null && !resp.errors.is_empty() && resp.errors.iter().all(|e| e.path.is_empty())
}

/// The codes an answer's errors may carry (a closed label vocabulary).
const ERROR_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "PROFILE_REQUIRED",
    "NOT_FOUND",
    "VALIDATION",
    "CONFLICT",
    "LIMIT",
    "UNAVAILABLE",
    "INTERNAL",
];

/// The `extensions.code` of an error.
fn error_code(e: &async_graphql::ServerError) -> Option<&str> {
    match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Whether to answer in `application/graphql-response+json`: the client names
/// it in `Accept` with a weight above 0 and at least that of `application/json`
/// (or of `application/*`, `*/*` standing for it); `application/json` otherwise,
/// also without an `Accept`.
fn accepts_graphql_response(headers: &HeaderMap) -> bool {
    let (mut graphql, mut json) = (0.0f32, 0.0f32);
    for range in
        headers.get_all(axum::http::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        match media.as_str() {
            "application/graphql-response+json" => graphql = graphql.max(q),
            "application/json" | "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    graphql > 0.0 && graphql >= json
}

/// The HTTP answer of a GraphQL response, as GraphQL over HTTP has it. A request
/// error (nothing was executed: a syntax, validation or variable error, or a
/// refusal before execution) has no `data` entry; under
/// `application/graphql-response+json` it has a 4xx status (401 and 403 for who
/// may act, 500 for a server fault, 400 otherwise), while `application/json`
/// answers 200 to any request it could read. A refusal after execution
/// (`executed`) keeps `data: null` and 200. `status` overrides all.
fn answer(
    resp: async_graphql::Response,
    graphql_response: bool,
    status: Option<StatusCode>,
    executed: bool,
) -> Response {
    use axum::http::{header, HeaderValue};
    let request_error = !executed && is_request_error(&resp);
    let body = if request_error {
        let mut body = serde_json::json!({ "errors": resp.errors });
        if !resp.extensions.is_empty() {
            body["extensions"] = serde_json::to_value(&resp.extensions).unwrap_or_default();
        }
        serde_json::to_vec(&body)
    } else {
        serde_json::to_vec(&resp)
    }
    .unwrap_or_default();
    // The database could not serve any of it: 503, whatever the media type,
    // so that a client or a balancer retries (a part answered before the
    // database went away is not worth keeping over a retry of the whole). A
    // mutation that ran is answered 200 by the caller (it may have committed).
    let unavailable = !resp.errors.is_empty() && resp.errors.iter().all(|e| error_code(e) == Some("UNAVAILABLE"));
    let status =
        status.unwrap_or(match (graphql_response && request_error, resp.errors.first().and_then(error_code)) {
            _ if unavailable => StatusCode::SERVICE_UNAVAILABLE,
            (false, _) => StatusCode::OK,
            (true, Some("UNAUTHENTICATED")) => StatusCode::UNAUTHORIZED,
            (true, Some("FORBIDDEN" | "PROFILE_REQUIRED")) => StatusCode::FORBIDDEN,
            (true, Some("INTERNAL")) => StatusCode::INTERNAL_SERVER_ERROR,
            (true, _) => StatusCode::BAD_REQUEST,
        });
    let media = if graphql_response { "application/graphql-response+json" } else { "application/json" };
    let mut out = (status, [(header::CONTENT_TYPE, HeaderValue::from_static(media))], body).into_response();
    if resp.errors.is_empty() {
        if let Some(v) = resp.cache_control.value().and_then(|v| HeaderValue::from_str(&v).ok()) {
            out.headers_mut().insert(header::CACHE_CONTROL, v);
        }
    }
    out.headers_mut().extend(resp.http_headers);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    out
}

/// A body `/graphql` cannot read as a GraphQL request: 400 (413 over the body
/// limit) with the JSON error body of every refusal, `VALIDATION` (`LIMIT`),
/// saying what a request must be, never the parser's internals.
pub struct BadGraphQLRequest(ParseRequestError);

impl From<ParseRequestError> for BadGraphQLRequest {
    fn from(e: ParseRequestError) -> Self {
        BadGraphQLRequest(e)
    }
}

impl IntoResponse for BadGraphQLRequest {
    fn into_response(self) -> Response {
        const SHAPE: &str = "a GraphQL request is a JSON object with a string `query`, and optionally an `operationName` string and a `variables` object";
        let (status, err) = match &self.0 {
            ParseRequestError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, AppError::Limit("the request body is over the size limit".into()))
            }
            ParseRequestError::InvalidRequest(e) => (
                StatusCode::BAD_REQUEST,
                AppError::Validation { field: None, message: format!("the request could not be read ({e}): {SHAPE}") },
            ),
            ParseRequestError::UnsupportedBatch => (
                StatusCode::BAD_REQUEST,
                AppError::Validation {
                    field: None,
                    message: "batches are not accepted: send one operation per request".into(),
                },
            ),
            _ => (StatusCode::BAD_REQUEST, AppError::Validation { field: None, message: SHAPE.into() }),
        };
        answer(error_response(&err), false, Some(status), false)
    }
}

/// The answer to one GraphQL request whose bounds were checked.
struct Answered {
    /// The HTTP status, when it is not the one [`answer`] gives.
    status: Option<StatusCode>,
    resp: async_graphql::Response,
    /// Whether a principal made the request.
    authenticated: bool,
    /// Whether the operation ran (its fields resolved): a refusal after that
    /// (the size cap, strict mode, the audit) keeps `data: null` and its 200, so
    /// that no client takes a mutation that ran for one that did not.
    executed: bool,
}

/// The `RateLimit` headers of an API client's quota on its answer, and a 429
/// with `Retry-After` when the quota could not take the operation.
fn quota_answer(state: &AppState, a: &mut Answered, outcome: Result<QuotaState, QuotaRefusal>) {
    use axum::http::HeaderValue;
    let state_headers = |h: &mut HeaderMap, q: QuotaState| {
        let policy = format!("\"hourly\";q={};w=3600", q.per_hour);
        let now = format!("\"hourly\";r={};t={}", q.remaining, q.full_in_secs);
        for (name, v) in [("ratelimit-policy", policy), ("ratelimit", now)] {
            h.insert(name, HeaderValue::from_str(&v).expect("digits and quotes"));
        }
    };
    match outcome {
        Ok(q) => state_headers(&mut a.resp.http_headers, q),
        Err(QuotaRefusal::Spent { state: q, retry_after_secs, .. }) => {
            state_headers(&mut a.resp.http_headers, q);
            a.resp.http_headers.insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
            a.status = Some(StatusCode::TOO_MANY_REQUESTS);
            state.metrics.rate_limited.with_label_values(&["graphql_quota"]).inc();
        }
        Err(QuotaRefusal::OverQuota { per_hour, .. }) => {
            let policy = format!("\"hourly\";q={per_hour};w=3600");
            a.resp.http_headers.insert("ratelimit-policy", HeaderValue::from_str(&policy).expect("digits and quotes"));
            state.metrics.rate_limited.with_label_values(&["graphql_over_quota"]).inc();
        }
    }
}

async fn run_graphql(
    state: &AppState,
    method: Method,
    headers: HeaderMap,
    mut req: async_graphql::Request,
    (checked, operation, mutation): (&crate::graphql::limits::Checked, Option<String>, bool),
    meter: &std::sync::OnceLock<Arc<Metered>>,
    authn: Option<Authn>,
) -> Answered {
    if method == Method::GET && !is_query_only(&req.query) {
        let err = AppError::Validation {
            field: None,
            message: "GET requests may only run queries; send mutations with POST".into(),
        };
        return Answered {
            status: Some(StatusCode::METHOD_NOT_ALLOWED),
            resp: error_response(&err),
            authenticated: false,
            executed: false,
        };
    }
    let strict =
        headers.get("x-gepi-strict").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let authn = match authn {
        Some(a) => a,
        None => authenticate(state, &headers, method != Method::GET).await,
    };
    let authenticated = matches!(authn, Authn::Authenticated(_));
    // A key with registered documents runs only those.
    if let Err(e) = trusted::allowed(&authn, &req.query) {
        return Answered { status: None, resp: error_response(&e), authenticated, executed: false };
    }
    // Credentials that could not be checked (the database cannot serve):
    // nothing runs, not even the login surface.
    if let Authn::Unchecked(e) = &authn {
        return Answered { status: None, resp: error_response(e), authenticated, executed: false };
    }
    // Without a profile, only the login surface runs; anything else is refused
    // before validation, whose messages (a required argument, an input field's
    // type) would describe the schema such a caller is not shown.
    if let Err(e) = authn.principal() {
        if !crate::graphql::visibility::login_surface_only(&req.query) {
            return Answered { status: None, resp: error_response(&e), authenticated, executed: false };
        }
    }
    // Input values the executor would refuse only midway (an `Int` out of
    // range, a required variable missing): refused before anything runs.
    if let Some(doc) = &checked.document {
        let name = req.operation_name.as_deref();
        if let Some(e) = crate::graphql::inputs::check(&state.schema_index, doc, name, &mut req.variables) {
            return Answered { status: None, resp: error_response(&e), authenticated, executed: false };
        }
    }
    let request_id = login::request_id(&headers);
    if let Some(id) = &request_id {
        req = req.data(RequestId(id.clone()));
    }
    if let Some(name) = &operation {
        req = req.data(crate::graphql::OperationName(name.clone()));
    }
    // A query reads from the replica when it may serve this principal
    // (`db::replica`); a mutation, and everything else, from the primary.
    let mut on_replica = None;
    // The request's gateway: the executor's loaders and a compiled read share it.
    let mut gateway = None;
    let authz = match &authn {
        Authn::Authenticated(p) => {
            let a = Arc::new(RequestAuthz::new(p.clone(), state.policy.clone()));
            tracing::Span::current().record("role", tracing::field::display(a.role().as_str()));
            // Strict clients: a field the role can never read refuses the whole
            // operation before anything runs (mutations included).
            if strict {
                if let Some(doc) = &checked.document {
                    let never = state.schema_index.never_readable(doc, &a);
                    if !never.is_empty() {
                        let err = AppError::Forbidden(format!(
                            "strict mode: the role {} may not read {}",
                            a.role().as_str(),
                            never.join(", ")
                        ));
                        return Answered { status: None, resp: error_response(&err), authenticated, executed: false };
                    }
                }
            }
            // An API client pays for each operation from its hourly quota.
            let metered = match (&p.actor, &p.terms) {
                (Actor::ApiClient { client_id }, Some(terms)) => Metered::for_client(
                    state.quotas.clone(),
                    *client_id,
                    terms.quota_points_per_hour.unwrap_or(state.config.api_quota_points_per_hour),
                ),
                _ => Metered::default(),
            };
            let metered = meter.get_or_init(|| Arc::new(metered)).clone();
            req = req.data(metered);
            let mut reads = state.db.clone();
            if let Some(r) = &state.replica {
                if !mutation {
                    let replica = r.reads_for(p.actor.id()).await;
                    let on = if replica.is_some() { "replica" } else { "primary" };
                    state.metrics.replica().query_reads.with_label_values(&[on]).inc();
                    if let Some(db) = replica {
                        reads = db;
                        on_replica = Some(r.clone());
                    }
                }
            }
            let gw = Gateway::new(state.db.clone(), a.clone(), state.principals.epoch().clone()).reading_from(reads);
            req = req.data(a.clone()).data(Loaders::new(gw.clone()));
            gateway = Some(gw);
            Some(a)
        }
        _ => None,
    };
    req = req.data(authn);
    let operation_name = req.operation_name.clone();
    // A query the compiler knows, from one statement; otherwise the executor,
    // which also validates the document for the role (the compiler answers only
    // documents it validated).
    // An API client's compiled read is paid for at the cost the executor
    // computed for the same variables; until it did, the executor answers.
    let validated = match (&authz, state.config.compiled_reads) {
        (Some(a), true) if checked.validated_for(a.role(), operation_name.as_deref(), &req.variables) => {
            match meter.get().filter(|m| m.has_quota()) {
                None => Some(None),
                Some(_) => checked.cost_for(a.role(), operation_name.as_deref(), &req.variables).map(Some),
            }
        }
        _ => None,
    };
    let compiled = match (&gateway, &checked.document, validated) {
        (Some(gw), Some(doc), Some(cost)) => {
            if let Some(Err(e)) = cost.and_then(|c| meter.get().map(|m| m.charge(c))) {
                return Answered { status: None, resp: error_response(&e), authenticated, executed: false };
            }
            crate::api::compiled::read(gw, doc, operation_name.as_deref(), &req.variables).await
        }
        _ => None,
    };
    let was_compiled = compiled.is_some();
    let mut resp = match compiled {
        Some(resp) => {
            state.metrics.compiled_reads.inc();
            resp
        }
        None => {
            let variables = authz.as_ref().map(|_| req.variables.clone());
            let resp = state.schema.execute(req).await;
            if let (Some(a), Some(variables)) = (&authz, &variables) {
                if !is_request_error(&resp) {
                    let cost = meter.get().map_or(0, |m| m.complexity.load(std::sync::atomic::Ordering::Relaxed));
                    checked.mark_validated(a.role(), operation_name.as_deref(), variables, cost);
                }
            }
            resp
        }
    };
    add_error_codes(&mut resp);
    let executed = !is_request_error(&resp);
    if let Some(r) = &on_replica {
        // The replica could not serve: the next queries read from the primary
        // until it answers again.
        if resp.errors.iter().any(|e| error_code(e) == Some("UNAVAILABLE")) {
            r.failed();
        }
    }
    // After a principal's mutation, its queries read from the primary until the
    // replica has replayed it (on every instance).
    if let (Some(r), true, true, Some(a)) = (&state.replica, mutation, executed, &authz) {
        // In a task of its own, awaited: a request cut off now (its timeout,
        // the client gone) still marks the write.
        let (r, db, who) = (r.clone(), state.db.clone(), a.principal.actor.id());
        let _ = tokio::spawn(async move { r.wrote(&db, who).await }).await;
    }
    // The size of the answer, counted without building it: over the cap, no data
    // leaves (and no read of it is recorded).
    if let Err(e) =
        crate::graphql::limits::check_response_size(json_size(&resp.data), state.config.response_limit_bytes)
    {
        return Answered { status: None, resp: error_response(&e), authenticated, executed };
    }
    // A compiled answer is in selection order already, and no field of it failed.
    if let (Some(doc), false) = (&checked.document, was_compiled) {
        crate::graphql::shape::shape(&state.schema_index, doc, operation_name.as_deref(), &mut resp.data, &resp.errors);
    }
    if let Some(a) = authz {
        let redactions = a.take_redactions();
        state.metrics.redacted_fields.inc_by(redactions.len() as u64);
        if strict && !redactions.is_empty() {
            let err = AppError::Forbidden(format!(
                "strict mode: the operation selects {} field(s) the role {} may not read (first: {})",
                redactions.len(),
                a.role().as_str(),
                redactions[0].path.join(".")
            ));
            return Answered { status: None, resp: error_response(&err), authenticated, executed };
        }
        if !redactions.is_empty() {
            let v = serde_json::to_value(&redactions).unwrap_or_default();
            resp.extensions.insert("redactions".into(), async_graphql::Value::from_json(v).unwrap_or_default());
        }
        // Reads of case content are written before the response leaves: no
        // trace, no data.
        if let Err(e) = audit_reads(state, &a, request_id, operation).await {
            return Answered { status: None, resp: error_response(&e), authenticated, executed };
        }
    }
    Answered { status: None, resp, authenticated, executed }
}

/// The response of a refusal before execution: one error, no location (it
/// points at no place in the document).
fn error_response(err: &AppError) -> async_graphql::Response {
    let mut e = async_graphql::ErrorExtensions::extend(err).into_server_error(async_graphql::Pos::default());
    e.locations.clear();
    async_graphql::Response::from_errors(vec![e])
}

/// Bytes of the JSON of `v`, counted while serialising into nothing.
fn json_size(v: &async_graphql::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Errors raised by the executor itself (parsing, validation, reading an
/// argument) carry no code; give them the stable ones. A value that does not
/// fit its type is the client's: `VALIDATION`, with the input path it names.
/// The limits are ours (`graphql::limits`) and carry `LIMIT` already.
fn add_error_codes(resp: &mut async_graphql::Response) {
    for e in &mut resp.errors {
        let has_code = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if has_code {
            continue;
        }
        // Values are checked before execution (`graphql::inputs` and the
        // validation); one refused while a field reads it is still the client's.
        let bad_value = e.message.starts_with("Failed to parse \"");
        let code = if e.path.is_empty() || bad_value { "VALIDATION" } else { "INTERNAL" };
        let field = (code == "VALIDATION").then(|| argument_path(&e.message)).flatten();
        let ext = e.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
        if let Some(f) = field {
            ext.set("field", f);
        }
    }
}

/// The input path a validation message of the executor names: a value that
/// does not fit its type (a malformed `Date`, an `Int` out of range, an unknown
/// enum value...) reads `Invalid value for argument "input.support.startsOn",
/// expected type "Date"`, in the document or in a variable alike.
/// List indices are written as the rest of GePI writes them: the executor's
/// `input.slots.0.startsAt` is `input.slots[0].startsAt` (a GraphQL name never
/// starts with a digit, so a numeric segment is always an index).
fn argument_path(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("Invalid value for argument \"")
        .or_else(|| message.strip_prefix("Invalid default value for argument: \""))?;
    let path = &rest[..rest.find('"')?];
    let mut out = String::with_capacity(path.len() + 4);
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    (!out.is_empty()).then_some(out)
}

async fn audit_reads(
    state: &AppState,
    authz: &RequestAuthz,
    request_id: Option<String>,
    operation: Option<String>,
) -> Result<(), AppError> {
    let reads = authz.take_reads();
    if reads.is_empty() {
        return Ok(());
    }
    let ctx = AuditContext::of(&authz.principal, request_id).during(operation);
    audit::reads::record(&state.db, &ctx, reads).await
}

/// A GraphQL POST must declare its body as GraphQL JSON (GraphQL over HTTP):
/// anything else — `text/plain` and the form encodings a cross-site form can
/// send without a preflight, multipart — is refused with 415 before the body
/// is read.
async fn graphql_json_only(req: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    let json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|e| e == "application/json" || e == "application/graphql-response+json");
    if req.method() != Method::GET && req.method() != Method::POST {
        let err = AppError::Validation { field: None, message: "GraphQL is served over GET (queries) and POST".into() };
        return answer(error_response(&err), false, Some(StatusCode::METHOD_NOT_ALLOWED), false);
    }
    if req.method() == Method::POST && !json {
        let err = AppError::Validation {
            field: None,
            message: "a GraphQL POST is application/json (or application/graphql-response+json)".into(),
        };
        return answer(error_response(&err), false, Some(StatusCode::UNSUPPORTED_MEDIA_TYPE), false);
    }
    next.run(req).await
}

/// The request's id: always the server's own (a UUID), so that the audit trail
/// and the logs correlate on a value no client chose. A client's
/// `x-request-id`, when it is a plausible id (1 to 64 characters of letters,
/// digits and `-_.:`), moves to `x-client-request-id` (logged beside ours,
/// never in its place); anything else is dropped.
async fn server_request_id(mut req: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let headers = req.headers_mut();
    let client = headers.remove("x-request-id");
    headers.remove("x-client-request-id");
    if let Some(v) = client.filter(|v| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len()) && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    }) {
        headers.insert("x-client-request-id", v);
    }
    let id = uuid::Uuid::new_v4().to_string();
    headers.insert("x-request-id", axum::http::HeaderValue::from_str(&id).expect("a UUID is a header value"));
    req
}

/// The W3C trace context of a request (`traceparent: 00-<trace id>-<parent id>-<flags>`):
/// its trace and parent ids, when the header is well formed (lower-case hex, ids
/// not all zeros, a version other than `ff`, one header only); otherwise none,
/// as the recommendation says a malformed or repeated header is ignored.
fn trace_context(headers: &HeaderMap) -> Option<(&str, &str)> {
    let mut all = headers.get_all("traceparent").iter();
    let (v, None) = (all.next()?.to_str().ok()?, all.next()) else { return None };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let well_formed = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && !zero(trace)
        && hex(parent, 16)
        && !zero(parent)
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    well_formed.then_some((trace, parent))
}

/// The operation name a client sent, when it is a GraphQL name of at most 64
/// characters (anything else is not logged nor labelled).
fn operation_name(name: Option<&str>) -> Option<&str> {
    name.filter(|n| {
        let b = n.as_bytes();
        (1..=64).contains(&b.len())
            && (b[0].is_ascii_alphabetic() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    })
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

/// The landing page: where a login ends, and where the SPID button leads from.
async fn home(State(state): State<AppState>) -> Html<String> {
    #[cfg(feature = "spid")]
    let login = state.spid.as_deref().map(spid::login_links).unwrap_or_default();
    #[cfg(not(feature = "spid"))]
    let login = {
        let _ = &state;
        String::new()
    };
    Html(format!(
        r#"<!DOCTYPE html><html lang="it"><head><meta charset="utf-8"><title>GePI</title></head><body><h1>GePI</h1><p>Gestione dei Patti per l'inclusione sociale.</p>{login}<p><a href="/graphiql">GraphiQL</a> · <a href="/dashboard">Cruscotto</a></p></body></html>"#
    ))
}

/// Anonymous endpoints that write (a pending request, an audit row, a session)
/// or sign something: one source address may not flood them. Over the limit:
/// 429 with `Retry-After` and the `RateLimit` headers, counted, nothing else
/// done.
async fn limit_logins(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let endpoint = match req.uri().path() {
        "/saml/login" => "saml_login",
        "/saml/acs" => "saml_acs",
        "/saml/slo" => "saml_slo",
        "/auth/dev-login" => "dev_login",
        // Not a login, but anonymous and it reads the database.
        "/audit/consistency" => "audit_consistency",
        _ => return next.run(req).await,
    };
    match state.login_limiter.check(req.headers(), req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
    {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            state.metrics.rate_limited.with_label_values(&[endpoint]).inc();
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            let mut resp = AppError::Limit(format!("too many login requests from this address: retry in {secs} s"))
                .into_response();
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let h = resp.headers_mut();
            h.insert(axum::http::header::RETRY_AFTER, secs.into());
            let policy = format!("\"login\";q={};w=60", state.config.login_rate_per_minute);
            if let Ok(v) = axum::http::HeaderValue::from_str(&policy) {
                h.insert("ratelimit-policy", v);
            }
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("\"login\";r=0;t={secs}")) {
                h.insert("ratelimit", v);
            }
            resp
        }
    }
}

/// Requests the body limit refused (413) leave a trace (a counter and a log
/// line without the body) and are answered like every other refusal, with the
/// code `LIMIT`: GraphQL's error shape on `/graphql`, the plain one elsewhere.
async fn count_refusals(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let graphql = req.uri().path() == "/graphql";
    let feed = req.uri().path().starts_with("/inps/");
    let resp = next.run(req).await;
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return resp;
    }
    state.metrics.body_too_large.inc();
    tracing::warn!("request body over the limit: 413");
    let (limit, var) = if feed {
        (state.config.feed_body_limit_bytes, "GEPI_FEED_BODY_LIMIT_BYTES")
    } else {
        (state.config.body_limit_bytes, "GEPI_BODY_LIMIT_BYTES")
    };
    let err = AppError::Limit(format!("the request body is over the limit of {limit} bytes ({var})"));
    if graphql {
        answer(error_response(&err), false, Some(StatusCode::PAYLOAD_TOO_LARGE), false)
    } else {
        err.into_response()
    }
}

/// `GET /metrics`: the counters, Prometheus text format. With
/// `GEPI_METRICS_TOKEN`, only for `Authorization: Bearer <that token>` (401
/// otherwise); without it, only on a loopback bind (404 otherwise: it would
/// show every operation name and error count to anyone).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use sha2::{Digest, Sha256};
    match &state.config.metrics_token {
        Some(token) => {
            let given = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            // Digests compared: no timing of how much of the token matched.
            if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
                return (StatusCode::UNAUTHORIZED, [(axum::http::header::WWW_AUTHENTICATE, "Bearer")]).into_response();
            }
        }
        None if !state.config.bind.ip().is_loopback() => return StatusCode::NOT_FOUND.into_response(),
        None => {}
    }
    let (in_use, idle) = pool_connections(&state.db);
    state.metrics.set_pool(in_use, idle, u64::from(state.config.db_max_connections));
    if let Some(r) = &state.replica {
        let h = r.health();
        let m = state.metrics.replica();
        m.up.set(i64::from(h.up));
        m.lag.set(h.lag.map_or(-1.0, |l| l.as_secs_f64()));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// Connections of the pool in use and idle.
fn pool_connections(db: &sea_orm::DatabaseConnection) -> (u64, u64) {
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (u64::from(p.size()), p.num_idle() as u64)
        }
        sea_orm::DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (u64::from(p.size()), p.num_idle() as u64)
        }
        _ => (0, 0),
    };
    (size.saturating_sub(idle), idle)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    // A balancer asks often and wants an answer: a database that does not
    // answer within 2 s is as good as down (the pool would wait longer).
    let ping = tokio::time::timeout(Duration::from_secs(2), crate::db::ping(&state.db)).await;
    match ping.map_err(|_| "no answer within 2 s".to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ready" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database unavailable" })))
                .into_response()
        }
    }
}

/// `POST /auth/logout`: revokes the session the request carries and clears the cookie.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let token = auth::token_from_headers(&headers)
        .ok_or_else(|| AppError::Unauthenticated("no session to log out of".into()))?;
    if auth::cookie_used_cross_site(&headers) || auth::cookie_post_not_same_origin(&headers) {
        return Err(AppError::Unauthenticated(
            "the session cookie is accepted on a POST only from GePI's own pages (Sec-Fetch-Site: same-origin, or an Origin naming this host)".into(),
        ));
    }
    if auth::api_key::is_api_key(&token) {
        return Err(AppError::Validation { field: None, message: "API keys have no session to log out of".into() });
    }
    let authn = Authn::from(auth::session::authenticate(&state.db, &state.config, &token, Utc::now()).await?);
    let (pending, principal) = authn.operator_session().expect("a session belongs to an operator");
    login::logout_session(&state.db, state.principals.epoch(), pending, principal, login::request_id(&headers)).await?;
    Ok((StatusCode::NO_CONTENT, [(axum::http::header::SET_COOKIE, auth::clear_session_cookie())]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_graphql_name_is_an_operation_name() {
        assert_eq!(operation_name(Some("Mine_2")), Some("Mine_2"));
        for bad in ["", "2Mine", "Mario Rossi", "a-b", &"a".repeat(65)] {
            assert_eq!(operation_name(Some(bad)), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_refusal_after_execution_keeps_its_data_entry_and_its_200() {
        let body = |r: Response| async move {
            let (parts, body) = r.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            (parts.status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        };
        let refusal = || error_response(&AppError::Limit("over the cap".into()));
        let (status, json) = body(answer(refusal(), true, None, false)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json.get("data").is_none(), "{json}");
        let (status, json) = body(answer(refusal(), true, None, true)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(json.get("data").is_some_and(|d| d.is_null()), "{json}");
        assert_eq!(json["errors"][0]["extensions"]["code"], "LIMIT");
    }

    #[test]
    fn the_accept_weights_choose_the_media_type() {
        let pick = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::ACCEPT, v.parse().unwrap());
            accepts_graphql_response(&h)
        };
        assert!(pick("application/graphql-response+json"));
        assert!(pick("application/json;q=0.9, application/graphql-response+json"));
        assert!(!pick("application/graphql-response+json;q=0.1, application/json"));
        assert!(!pick("application/graphql-response+json; Q=0"));
        assert!(!pick("*/*"));
        assert!(!pick("text/html, application/*"));
        assert!(!accepts_graphql_response(&HeaderMap::new()));
    }

    #[test]
    fn only_a_well_formed_trace_context_is_kept() {
        let ctx = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("traceparent", v.parse().unwrap());
            trace_context(&h).map(|(t, p)| (t.to_string(), p.to_string()))
        };
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(ctx(&format!("00-{t}-00f067aa0ba902b7-01")), Some((t.into(), "00f067aa0ba902b7".into())));
        // A later version may carry more fields; version 00 may not.
        assert!(ctx(&format!("01-{t}-00f067aa0ba902b7-01-extra")).is_some());
        for bad in [
            format!("00-{t}-00f067aa0ba902b7-01-extra"),
            format!("ff-{t}-00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{t}-0000000000000000-01"),
            format!("00-{}-00f067aa0ba902b7-01", t.to_uppercase()),
            format!("00-{t}-00f067aa0ba902b7"),
            "not-a-trace-context".into(),
        ] {
            assert_eq!(ctx(&bad), None, "{bad}");
        }
    }
}
