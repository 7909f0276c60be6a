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

#[tokio::test]
async fn every_request_is_logged_at_info_with_its_outcome_and_never_its_query_or_variables() {
    let app = TestApp::seeded().await;
    let (token, _, operator) = app.login_role(Role::CaseManager, 0).await;
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_env_filter("info,sqlx=warn,sea_orm=warn")
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");
    // A bad filter value (VALIDATION) in a variable and a distinctive alias:
    // neither may reach the log, nor the codice fiscale the second answer holds.
    let query =
        "query ListMine($c: String) { zzAliasInTheQueryText: cases(first: 1, filter: { comune: $c }) { totalCount } }";
    let variables = json!({ "c": "ZZ-VARIABLE-VALUE" });
    let r = app.gql_with(&token, &[("traceparent", &traceparent)], query, variables).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    let r = app
        .gql_with(
            &token,
            &[("traceparent", "not-a-trace-context")],
            "query Mine { me { operator { fiscalCode } } }",
            json!({}),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    drop(_guard);

    let lines = logs.lines();
    let served: Vec<&String> = lines.iter().filter(|l| l.contains(" INFO ") && l.contains("served")).collect();
    assert_eq!(served.len(), 2, "one line per request: {lines:#?}");
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
