//! Issue 15: GePI with the tools GraphQL users have. Point 7, operations: one
//! access log line per request at INFO (method, path, status, duration, request
//! id, trace context, operation name, role, outcome; never the query text, the
//! variables or personal data) and request metrics by operation and outcome.

use std::sync::{Arc, Mutex};

use axum::{body::Body, http::Request};
use entity::enums::Role;
use serde_json::json;

use crate::helpers::TestApp;

/// Log output, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap()).lines().map(str::to_string).collect()
    }
}

/// The log of this test process: a global subscriber, set once (a thread's own
/// subscriber misses events whose callsites another test thread registered
/// first). Each test picks its own lines by the client request id it sent.
fn process_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_env_filter("info,sqlx=warn,sea_orm=warn")
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in the tests");
        logs
    })
}

#[tokio::test]
async fn every_request_is_logged_at_info_with_its_outcome_and_never_its_query_or_variables() {
    let logs = process_log();
    let app = TestApp::seeded().await;
    let (token, _, operator) = app.login_role(Role::CaseManager, 0).await;
    let client_id = format!("eco-{}", uuid::Uuid::new_v4());

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    // A bad filter value (VALIDATION) in a variable and a distinctive alias:
    // neither may reach the log, nor the codice fiscale the second answer holds.
    let query =
        "query ListMine($c: String) { zzAliasInTheQueryText: cases(first: 1, filter: { comune: $c }) { totalCount } }";
    let variables = json!({ "c": "ZZ-VARIABLE-VALUE" });
    let r =
        app.gql_with(&token, &[("traceparent", &traceparent), ("x-request-id", &client_id)], query, variables).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    let r = app
        .gql_with(
            &token,
            &[("traceparent", "not-a-trace-context"), ("x-request-id", &client_id)],
            "query Mine { me { operator { fiscalCode } } }",
            json!({}),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");

    let lines = logs.lines();
    let ours = format!("client_request_id={client_id}");
    let served: Vec<&String> =
        lines.iter().filter(|l| l.contains(" INFO ") && l.contains("served") && l.contains(&ours)).collect();
    assert_eq!(served.len(), 2, "one line per request: {served:#?}");
    let first = served[0];
    for part in [
        "method=POST",
        "path=/graphql",
        "status=200",
        "duration_ms=",
        "request_id=",
        &format!("trace_id={trace}"),
        "parent_id=00f067aa0ba902b7",
        "operation=ListMine",
        "role=case_manager",
        "outcome=VALIDATION",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    assert!(served[1].contains("operation=Mine") && served[1].contains("outcome=OK"), "{}", served[1]);
    assert!(served[1].contains("trace_id=-"), "a malformed traceparent is ignored: {}", served[1]);
    let all = lines.join("\n");
    for secret in ["zzAliasInTheQueryText", "ZZ-VARIABLE-VALUE", operator.fiscal_code.as_str(), "fiscalCode"] {
        assert!(!all.contains(secret), "{secret} reached the log:\n{all}");
    }

    // The same two requests, counted by operation and outcome.
    let (_, _, metrics) = app.request_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(
        metrics.contains(r#"gepi_graphql_requests_total{operation="ListMine",outcome="VALIDATION"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"gepi_graphql_requests_total{operation="Mine",outcome="OK"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"gepi_graphql_request_duration_seconds_count{operation="Mine",outcome="OK"} 1"#),
        "{metrics}"
    );
    // Without a principal, the name a caller chose is not a label; nor is a
    // name that is none of the document's operations.
    app.gql(None, "query ChosenByAnyone { me { operator { id } } }", json!({})).await;
    let r = app
        .post_json(
            "/graphql",
            Some(&token),
            json!({ "query": "query Real { __typename }", "operationName": "Invented" }),
        )
        .await;
    assert!(r.status.is_success() || r.status.is_client_error());
    let (_, _, metrics) = app.request_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(!metrics.contains("ChosenByAnyone") && !metrics.contains("Invented"), "{metrics}");
    assert!(metrics.contains(r#"gepi_graphql_requests_total{operation="unauthenticated""#), "{metrics}");
}

/// Point 3, GraphQL over HTTP: the media type follows `Accept`; a request error
/// (syntax, validation, variables, a refusal before execution) has no `data`,
/// and under `application/graphql-response+json` a 4xx status; a body that is no
/// GraphQL request, or has no query, is 400 with the JSON error body.
#[tokio::test]
async fn graphql_over_http_media_types_and_status_codes() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let send = |accept: Option<&'static str>, body: String, auth: bool| {
        let mut b = Request::post("/graphql").header("content-type", "application/json");
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        if auth {
            b = b.header("authorization", format!("Bearer {token}"));
        }
        b.body(Body::from(body)).unwrap()
    };
    let gql = |q: &str, vars: serde_json::Value| json!({ "query": q, "variables": vars }).to_string();
    const GRJ: &str = "application/graphql-response+json";
    const JSON: &str = "application/json";

    // The media type: application/json unless the client names the GraphQL one.
    for (accept, media) in [
        (Some(JSON), JSON),
        (Some("*/*"), JSON),
        (None, JSON),
        (Some(GRJ), GRJ),
        (Some("application/graphql-response+json, application/json;q=0.9"), GRJ),
        (Some("application/graphql-response+json;q=0, application/json"), JSON),
        (Some("application/graphql-response+json;Q=0.1, application/json"), JSON),
        (Some("application/json;q=0.5, application/graphql-response+json"), GRJ),
    ] {
        let r = app.request(send(accept, gql("{ __typename }", json!({})), true)).await;
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(r.headers["content-type"], media, "{accept:?}");
        assert_eq!(r.body["data"]["__typename"], "Query");
    }

    // Request errors: no data entry; 400 under the GraphQL media type, 200 under JSON.
    let cases = [
        ("syntax", gql("{", json!({}))),
        ("validation", gql("{ noSuchField }", json!({}))),
        ("variables", gql("query V($id: ID!) { __typename }", json!({ "id": null }))),
        (
            "limit",
            gql(
                &format!("{{ {} }}", (0..=30).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ")),
                json!({}),
            ),
        ),
    ];
    for (what, body) in cases {
        let r = app.request(send(Some(GRJ), body.clone(), true)).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.body.get("data").is_none() && r.body["errors"][0]["message"].is_string(), "{what}: {}", r.body);
        let r = app.request(send(Some(JSON), body, true)).await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert!(r.body.get("data").is_none(), "{what}: {}", r.body);
    }
    // Who may act: 401 under the GraphQL media type.
    let r = app.request(send(Some(GRJ), gql("{ cases { totalCount } }", json!({})), false)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(r.body["errors"][0].get("locations").is_none(), "a refusal points at no place: {}", r.body);
    // An execution error keeps its data and its 200.
    let r = app.request(send(Some(GRJ), gql("{ case(id: \"Q2FzZTpub3BlCg\") { id } }", json!({})), true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"].is_object() && r.body["data"]["case"].is_null(), "{}", r.body);

    // Not a GraphQL request: 400, the JSON error body, nothing of the parser's internals.
    for body in [r#"{"notquery": "{ __typename }"}"#, r#"{"query": "#, r#"{"query": 0}"#, r#"{"query": ["array"]}"#, ""]
    {
        let r = app.request(send(Some(GRJ), body.into(), true)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["extensions"]["code"], "VALIDATION", "{body}: {}", r.body);
        let message = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.contains("Error(") && !message.contains("InvalidRequest"), "{message}");
    }
    let r = app.request(send(None, r#"{"notquery": "{ __typename }"}"#.into(), true)).await;
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "query", "{}", r.body);
}

/// Point 4, Relay: by-id roots and `node` are nullable, so a missing id nulls
/// its own field and not the whole `data`; `nodes(ids:)` answers in the order
/// asked, null for a missing id and for one out of scope alike.
#[tokio::test]
async fn by_id_roots_are_nullable_and_nodes_answers_each_id() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::seeded().await;
    let (token, _, operator) = app.login_role(Role::CaseManager, 0).await;
    let one_case = |of_this_operator: bool| {
        let column = entity::case_file::Column::CaseManagerId;
        let find = entity::case_file::Entity::find().filter(if of_this_operator {
            column.eq(operator.id)
        } else {
            column.ne(operator.id)
        });
        async { find.one(&app.db).await.unwrap().expect("a case of each kind") }
    };
    let (mine, theirs) = (one_case(true).await, one_case(false).await);
    let (mine, theirs) = (gepi::ids::encode("Case", mine.id), gepi::ids::encode("Case", theirs.id));
    let missing = gepi::ids::encode("Case", uuid::Uuid::new_v4());

    let (_, _, text) = app
        .request_text(
            Request::post("/graphql")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(
                    json!({ "query": format!("{{ first: case(id: \"{missing}\") {{ id }} me {{ operator {{ id }} }} last: node(id: \"{theirs}\") {{ id }} }}") })
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(r["data"]["first"].is_null() && r["data"]["last"].is_null(), "{r}");
    assert!(r["data"]["me"]["operator"]["id"].is_string(), "the other roots keep their data: {r}");
    let mut codes: Vec<_> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"][0].clone(), e["extensions"]["code"].clone()))
        .collect();
    // Errors come in the order the resolvers failed, which the specification leaves open.
    codes.sort_by_key(|(path, _)| path.to_string());
    assert_eq!(codes, [(json!("first"), json!("NOT_FOUND")), (json!("last"), json!("NOT_FOUND"))], "{r}");
    let (first, me, last) =
        (text.find("\"first\"").unwrap(), text.find("\"me\"").unwrap(), text.find("\"last\"").unwrap());
    assert!(first < me && me < last, "top-level keys in selection order: {text}");

    let q = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let r = app.gql(Some(&token), q, json!({ "ids": [mine, missing, theirs] })).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["nodes"], json!([{ "id": mine }, null, null]), "out of scope answers like missing");
    let r = app.gql(Some(&token), q, json!({ "ids": [mine, "not an id"] })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "ids[1]", "{r}");
    let many: Vec<String> = (0..=gepi::api::node::MAX_NODES).map(|_| mine.clone()).collect();
    let r = app.gql(Some(&token), q, json!({ "ids": many })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "LIMIT", "{r}");
}

/// The value of the first sample of `/metrics` whose line starts with `prefix`.
fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
}

/// Point 7, the rest: statements and audit events per request, errors by code,
/// redactions, the pool and the build; `/metrics` wants its token when one is
/// configured, and is absent on a public bind without one.
#[tokio::test]
async fn metrics_count_each_request_and_are_not_open_to_all() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let q = "{ cases(first: 3) { edges { node { id household { members { firstName } } } } } }";
    let before = app.count("audit_event").await;
    let r = app.gql(Some(&token), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let written = app.count("audit_event").await - before;
    let missing = gepi::ids::encode("Case", uuid::Uuid::new_v4());
    app.gql(Some(&token), &format!("{{ case(id: \"{missing}\") {{ id }} }}"), json!({})).await;
    let get = |t: Option<&str>| {
        let mut b = Request::get("/metrics");
        if let Some(t) = t {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::empty()).unwrap()
    };
    let (status, _, m) = app.request_text(get(None)).await;
    assert_eq!(status, 200, "loopback, no token configured: served");
    assert_eq!(sample(&m, "gepi_graphql_statements_per_request_count"), 2.0, "{m}");
    assert!(sample(&m, "gepi_graphql_statements_per_request_sum") >= 4.0, "{m}");
    assert!(written > 0, "the reads of the list are audited");
    assert_eq!(sample(&m, "gepi_audit_events_total"), written as f64, "{m}");
    assert_eq!(sample(&m, r#"gepi_graphql_errors_total{code="NOT_FOUND"}"#), 1.0, "{m}");
    assert_eq!(sample(&m, r#"gepi_db_pool_connections{state="max"}"#), 4.0, "{m}");
    assert!(m.contains(&format!(r#"gepi_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"))), "{m}");

    let secret = "a-metrics-token-of-at-least-32-characters";
    let guarded = TestApp::with_config(|c| c.metrics_token = Some(secret.into())).await;
    let (status, headers, _) = guarded.request_text(get(None)).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(guarded.request_text(get(Some("wrong"))).await.0, 401);
    assert_eq!(guarded.request_text(get(Some(secret))).await.0, 200);
    let public = TestApp::with_config(|c| c.bind = "0.0.0.0:8080".parse().unwrap()).await;
    assert_eq!(public.request_text(get(None)).await.0, 404, "no token, public bind: no metrics");
}

/// Point 5: a value that does not fit its scalar (a malformed `Date`, a
/// `DateTime` without its offset, an `Int` out of range, a text with U+0000), in the document, in a
/// variable or in a variable's default, at the top of an input or nested in it,
/// is `VALIDATION` naming the whole input path, and nothing of the operation
/// runs (not even the fields before it); so is a required variable not sent.
#[tokio::test]
async fn malformed_scalars_are_validation_errors_naming_their_input_path() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let case = {
        use sea_orm::EntityTrait;
        let c = entity::case_file::Entity::find().one(&app.db).await.unwrap().unwrap();
        gepi::ids::encode("Case", c.id)
    };
    let activate = "mutation($i: ActivateSupportInput!) { activateSupport(input: $i) { id } }";
    let support = |starts_on: &str| json!({ "i": { "caseId": case, "support": { "kind": "TIROCINIO_INCLUSIONE", "provider": "ASL", "startsOn": starts_on } } });
    let plan = "mutation($i: PlanMeetingInput!) { planMeeting(input: $i) { id } }";
    let meeting = |starts_at: &str| json!({ "i": { "caseId": case, "kind": "CONVOCAZIONE", "startsAt": starts_at } });
    let calendar = "query($f: Date!) { calendar(from: $f, to: $f) { slots { booked } } }";
    let cases: &[(&str, &str, serde_json::Value, &str)] = &[
        ("a month 13, nested in a variable", activate, support("2026-13-01"), "input.support.startsOn"),
        ("a day first, nested in a variable", activate, support("02/12/2026"), "input.support.startsOn"),
        ("a day that does not exist", activate, support("2025-02-29"), "input.support.startsOn"),
        ("an instant without its offset", plan, meeting("2026-12-20T10:00:00"), "input.startsAt"),
        ("an instant with a space for T", plan, meeting("2026-12-20 10:00:00Z"), "input.startsAt"),
        ("a date in a variable of a query", calendar, json!({ "f": "2026-12-32" }), "from"),
        (
            "a date in the document",
            "{ calendar(from: \"2026-12-01\", to: \"12/12/2026\") { slots { booked } } }",
            json!({}),
            "to",
        ),
        ("an Int out of range", "{ cases(first: 3000000000) { totalCount } }", json!({}), "first"),
        (
            "an Int out of range, nested in the document",
            "mutation { planMeeting(input: { caseId: \"x\", kind: CONVOCAZIONE, durationMinutes: 99999999999 }) { id } }",
            json!({}),
            "input.durationMinutes",
        ),
        (
            "an Int out of range after a field that would have run",
            "{ a: cases(first: 2) { edges { node { id household { id } } } } b: cases(first: 2, filter: { dueWithinDays: 3000000000 }) { totalCount } }",
            json!({}),
            "filter.dueWithinDays",
        ),
        (
            "a large number for an ID is not an Int",
            "mutation { planMeeting(input: { caseId: 5000000000, kind: CONVOCAZIONE, durationMinutes: 3000000000 }) { id } }",
            json!({}),
            "input.durationMinutes",
        ),
        ("a required variable not sent", activate, json!({}), "i"),
        ("a required variable sent as null", activate, json!({ "i": null }), "i"),
        (
            "an Int out of range beside a variable that was not sent",
            "mutation($place: String) { planMeeting(input: { caseId: \"x\", kind: CONVOCAZIONE, durationMinutes: 3000000000, place: $place }) { id } }",
            json!({}),
            "input.durationMinutes",
        ),
        (
            "a malformed date beside a variable that was not sent",
            "mutation($e: Date) { activateSupport(input: { caseId: \"x\", support: { kind: TIROCINIO_INCLUSIONE, provider: \"ASL\", startsOn: \"2026-13-01\", endsOn: $e } }) { id } }",
            json!({}),
            "input.support.startsOn",
        ),
        (
            "a malformed instant in a list, in a variable",
            "mutation($i: CreateOfficeSlotsInput!) { createOfficeSlots(input: $i) { id } }",
            json!({ "i": { "comuneIstat": "015146", "slots": [
                { "startsAt": "2027-01-04T09:00:00Z", "endsAt": "2027-01-04T09:30:00Z", "place": "Sportello" },
                { "startsAt": "2027-01-04T10:00:00", "endsAt": "2027-01-04T10:30:00Z", "place": "Sportello" },
            ] } }),
            "input.slots[1].startsAt",
        ),

        // U+0000: valid JSON, refused by every text column of PostgreSQL
        // (found by the fuzzer as an INTERNAL error of `auditEvents`).
        ("a NUL in a text of a variable", plan, json!({ "i": { "caseId": case, "kind": "CONVOCAZIONE", "place": "Sala\u{0}1" } }), "input.place"),
        (
            "a NUL in a text in the document",
            "mutation { planMeeting(input: { caseId: \"x\", kind: CONVOCAZIONE, place: \"\\u0000\" }) { id } }",
            json!({}),
            "input.place",
        ),
        ("a NUL in an ID", "query($id: ID!) { case(id: $id) { id } }", json!({ "id": "\u{0}" }), "id"),
        ("an Int out of range as a variable's default", "query($n: Int = 3000000000) { cases(first: $n) { totalCount } }", json!({}), "first"),
        (
            "a malformed date as a variable's default",
            "query($d: Date = \"2026-13-01\") { calendar(from: $d, to: $d) { slots { booked } } }",
            json!({}),
            "d",
        ),
    ];
    let reads = app.count("audit_event WHERE action = 'read'").await;
    let (supports, meetings) = (app.count("support").await, app.count("meeting").await);
    for (what, query, variables, field) in cases {
        let r = app.gql(Some(&token), query, variables.clone()).await;
        assert!(r["data"].is_null(), "{what}: nothing runs: {r}");
        assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{what}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], *field, "{what}: {r}");
    }
    assert_eq!((app.count("support").await, app.count("meeting").await), (supports, meetings));
    assert_eq!(app.count("audit_event WHERE action = 'read'").await, reads, "no field ran, none was read");

    // Well-formed values still work, and the scalars say what they follow.
    let r = app.gql(Some(&token), calendar, json!({ "f": "2026-12-01" })).await;
    assert!(r["errors"].is_null(), "{r}");
    let r = app
        .gql(
            Some(&token),
            "{ d: __type(name: \"Date\") { specifiedByURL description } t: __type(name: \"DateTime\") { specifiedByURL } n: __type(name: \"NaiveDate\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(r["data"]["d"]["specifiedByURL"], "https://scalars.graphql.org/andimarek/local-date.html", "{r}");
    assert_eq!(r["data"]["t"]["specifiedByURL"], "https://scalars.graphql.org/andimarek/date-time.html", "{r}");
    assert!(r["data"]["d"]["description"].as_str().is_some_and(|d| d.contains("YYYY-MM-DD")), "{r}");
    assert!(r["data"]["n"].is_null(), "no NaiveDate scalar left: {r}");
}

/// Point 2: GraphiQL works offline. The page loads only what the server itself
/// serves (its Content-Security-Policy says so to the browser), the assets are
/// embedded, and in demo mode the page's login form has the demo operators to
/// choose from; without the dev login there is no such list. (The page is
/// driven in a real browser by `tools/ecosystem/graphiql.mjs` in `.ci/run`.)
#[tokio::test]
async fn graphiql_is_served_whole_from_the_binary() {
    let app = TestApp::seeded().await;
    let (status, headers, page) = app.request_text(Request::get("/graphiql").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    let sources: Vec<&str> = page.split(['"', '\'']).filter(|s| s.starts_with("http") || s.starts_with("//")).collect();
    assert!(sources.is_empty(), "the page names other origins: {sources:?}");
    for asset in [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "gepi-graphiql.js",
    ] {
        assert!(page.contains(&format!("/graphiql/assets/{asset}")), "{asset} not in the page");
        let (status, headers, body) =
            app.request_text(Request::get(format!("/graphiql/assets/{asset}")).body(Body::empty()).unwrap()).await;
        assert_eq!(status, 200, "{asset}");
        let ty = headers["content-type"].to_str().unwrap();
        assert!(ty.starts_with(if asset.ends_with(".css") { "text/css" } else { "text/javascript" }), "{asset}: {ty}");
        assert!(body.len() > 1000, "{asset} is empty");
    }
    let (status, _, _) =
        app.request_text(Request::get("/graphiql/assets/../Cargo.toml").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 404);

    // Demo mode: one login per role, each of which works.
    let (status, _, list) = app.request_text(Request::get("/auth/dev-login").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let roles: std::collections::BTreeSet<&str> = list.iter().map(|l| l["role"].as_str().unwrap()).collect();
    assert_eq!(roles.len(), list.len(), "one login per role");
    assert!(roles.contains("case_manager") && roles.contains("pais_coordinator"), "{roles:?}");
    let cm = list.iter().find(|l| l["role"] == "case_manager").unwrap();
    let token = app.login(cm["fiscalCode"].as_str().unwrap(), cm["profileId"].as_str().unwrap()).await;
    let r = app.gql(Some(&token), "{ me { profile { role } } }", json!({})).await;
    assert_eq!(r["data"]["me"]["profile"]["role"], "CASE_MANAGER", "{r}");

    // Only for requests addressed to a loopback name (no DNS rebinding).
    for (host, allowed) in [
        ("127.0.0.1:8080", true),
        ("localhost", true),
        ("[::1]:8080", true),
        ("gepi.evil.example", false),
        ("127.0.0.1.evil.example:8080", false),
    ] {
        let list = Request::get("/auth/dev-login").header("host", host).body(Body::empty()).unwrap();
        let (status, _, _) = app.request_text(list).await;
        let login = Request::post("/auth/dev-login")
            .header("host", host)
            .header("content-type", "application/json")
            .body(Body::from(json!({ "fiscalCode": cm["fiscalCode"], "profileId": cm["profileId"] }).to_string()))
            .unwrap();
        let (login_status, _, body) = app.request_text(login).await;
        assert_eq!((status.is_success(), login_status.is_success()), (allowed, allowed), "{host}: {body}");
    }

    // Without the dev login, no list and no form.
    let plain = app.twin(|c| c.dev_login = false).await;
    let resp = tower::ServiceExt::oneshot(plain.clone(), Request::get("/auth/dev-login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = tower::ServiceExt::oneshot(plain, Request::get("/graphiql").body(Body::empty()).unwrap()).await.unwrap();
    let page = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    assert!(!String::from_utf8_lossy(&page).contains("gepi-login\""), "no login form without the dev login");
}

/// Point 6: every type, field, argument, input field and enum value of the
/// schema has a description (graphql-schema-linter checks the same, and more,
/// in `.ci/run`).
#[test]
fn every_part_of_the_schema_is_described() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(gepi::schema::sdl()).expect("the SDL parses");
    let mut missing = Vec::new();
    let mut described = 0;
    let mut check = |what: String, d: &Option<async_graphql::Positioned<String>>| match d {
        Some(d) if !d.node.trim().is_empty() => described += 1,
        _ => missing.push(what),
    };
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = &t.node;
        let name = t.name.node.as_str();
        if name.starts_with("__") {
            continue;
        }
        check(name.to_string(), &t.description);
        match &t.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    check(format!("{name}.{}", f.node.name.node), &f.node.description);
                    for a in &f.node.arguments {
                        check(format!("{name}.{}({})", f.node.name.node, a.node.name.node), &a.node.description);
                    }
                }
            }
            TypeKind::Interface(i) => {
                for f in &i.fields {
                    check(format!("{name}.{}", f.node.name.node), &f.node.description);
                }
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    check(format!("{name}.{}", f.node.name.node), &f.node.description);
                }
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    check(format!("{name}.{}", v.node.value.node), &v.node.description);
                }
            }
            _ => {}
        }
    }
    assert!(missing.is_empty(), "{} parts without a description: {missing:?}", missing.len());
    assert!(described > 1000, "only {described} descriptions found");
}
