//! Counters of what the service refuses, served at `/metrics` in the
//! Prometheus text format: SAML messages refused (by endpoint and outcome,
//! every refusal; only those whose IdP signature verified are also audited),
//! request bodies over the limit, requests over the login rate limit, the
//! SQL statements the service runs, and GraphQL requests by operation name and
//! outcome code (a count and a latency histogram).
//! One registry per [`crate::AppState`], not a process-wide one, so that two
//! services in one process (the tests) count apart. Labels are closed
//! vocabularies (endpoint names, refusal codes) or operation names, of which the
//! first [`OPERATION_NAMES`] seen are kept (the rest count as `other`): no
//! personal data, bounded cardinality.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// Distinct operation names labelled apart; later ones are `other`.
pub const OPERATION_NAMES: usize = 200;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `gepi_saml_refused_total{endpoint="acs|slo", outcome="<code>"}`.
    pub saml_refused: IntCounterVec,
    /// `gepi_http_body_too_large_total`: requests answered 413.
    pub body_too_large: IntCounter,
    /// `gepi_http_rate_limited_total{endpoint}`: requests answered 429.
    pub rate_limited: IntCounterVec,
    /// `gepi_db_statements_total`: SQL statements run on the database.
    pub db_statements: IntCounter,
    /// `gepi_graphql_requests_total{operation, outcome}`: outcome is `OK` or the
    /// first error's code.
    pub graphql_requests: IntCounterVec,
    /// `gepi_graphql_request_duration_seconds{operation, outcome}`.
    pub graphql_duration: HistogramVec,
    operations: Arc<Mutex<HashSet<String>>>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let saml_refused = IntCounterVec::new(
            Opts::new("gepi_saml_refused_total", "SAML messages refused, by endpoint and outcome"),
            &["endpoint", "outcome"],
        )
        .expect("valid metric");
        let body_too_large =
            IntCounter::new("gepi_http_body_too_large_total", "Requests refused with 413: body over the limit")
                .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new("gepi_http_rate_limited_total", "Requests refused with 429: over the login rate limit"),
            &["endpoint"],
        )
        .expect("valid metric");
        let db_statements =
            IntCounter::new("gepi_db_statements_total", "SQL statements run on the database").expect("valid metric");
        let graphql_requests = IntCounterVec::new(
            Opts::new("gepi_graphql_requests_total", "GraphQL requests, by operation name and outcome code"),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "gepi_graphql_request_duration_seconds",
                "Time to answer a GraphQL request, by operation name and outcome code",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        for c in [
            Box::new(saml_refused.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(body_too_large.clone()),
            Box::new(rate_limited.clone()),
            Box::new(db_statements.clone()),
            Box::new(graphql_requests.clone()),
            Box::new(graphql_duration.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            saml_refused,
            body_too_large,
            rate_limited,
            db_statements,
            graphql_requests,
            graphql_duration,
            operations: Arc::default(),
        }
    }

    /// Counts one GraphQL request: `operation` is the client's operation name
    /// (already checked to be a GraphQL name), `anonymous` without one.
    pub fn graphql_request(&self, operation: Option<&str>, outcome: &str, seconds: f64) {
        let operation = match operation {
            None => "anonymous",
            Some(name) => {
                let mut seen = self.operations.lock().expect("operation names lock");
                if seen.contains(name) || (seen.len() < OPERATION_NAMES && seen.insert(name.to_string())) {
                    name
                } else {
                    "other"
                }
            }
        };
        self.graphql_requests.with_label_values(&[operation, outcome]).inc();
        self.graphql_duration.with_label_values(&[operation, outcome]).observe(seconds);
    }

    /// Counts every statement `db` runs into `gepi_db_statements_total` (the
    /// statements of a request are counted, not guessed). The connection has
    /// one statement hook: set it before the connection is cloned into the state.
    pub fn count_statements(&self, db: &mut sea_orm::DatabaseConnection) {
        let c = self.db_statements.clone();
        db.set_metric_callback(move |_| c.inc());
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_past_the_bound_count_as_other() {
        let m = Metrics::new();
        for i in 0..OPERATION_NAMES + 5 {
            m.graphql_request(Some(&format!("Op{i}")), "OK", 0.001);
        }
        m.graphql_request(Some("Op0"), "OK", 0.001);
        m.graphql_request(None, "LIMIT", 0.001);
        let text = m.render();
        assert!(text.contains(r#"gepi_graphql_requests_total{operation="Op0",outcome="OK"} 2"#), "{text}");
        assert!(text.contains(r#"gepi_graphql_requests_total{operation="other",outcome="OK"} 5"#), "{text}");
        assert!(text.contains(r#"gepi_graphql_requests_total{operation="anonymous",outcome="LIMIT"} 1"#), "{text}");
        let labelled = text.lines().filter(|l| l.starts_with("gepi_graphql_requests_total{")).count();
        assert_eq!(labelled, OPERATION_NAMES + 2, "{text}");
    }
}
