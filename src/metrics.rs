//! Counters of what the service refuses, served at `/metrics` in the
//! Prometheus text format: SAML messages refused (by endpoint and outcome,
//! every refusal; only those whose IdP signature verified are also audited),
//! request bodies over the limit, requests over the login rate limit, the
//! SQL statements the service runs, GraphQL requests by operation name and
//! outcome code (a count and a latency histogram), the SQL statements and the
//! audit events of each request, the errors of the answers by code (the
//! authorization refusals among them), fields redacted by the field rules, the
//! database pool, and the build.
//! One registry per [`crate::AppState`], not a process-wide one, so that two
//! services in one process (the tests) count apart. Labels are closed
//! vocabularies (endpoint names, refusal codes) or operation names, of which the
//! first [`OPERATION_NAMES`] seen are kept (the rest count as `other`): no
//! personal data, bounded cardinality.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

tokio::task_local! {
    /// What the request running in this task has done so far.
    static REQUEST: RequestCounts;
}

/// Statements and audit events of one request (see [`counted`]).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub statements: u64,
    pub audit_events: u64,
}

#[derive(Default)]
struct RequestCounts {
    statements: std::cell::Cell<u64>,
    audit_events: std::cell::Cell<u64>,
}

/// Runs `f`, counting the statements and audit events it causes in this task
/// (work spawned onto other tasks is not counted).
pub async fn counted<F: std::future::Future>(f: F) -> (F::Output, Counts) {
    REQUEST
        .scope(RequestCounts::default(), async {
            let out = f.await;
            let counts =
                REQUEST.with(|r| Counts { statements: r.statements.get(), audit_events: r.audit_events.get() });
            (out, counts)
        })
        .await
}

/// Notes a statement run by the request running in this task, if any (the
/// connection's statement hook calls it).
pub fn statement_ran() {
    let _ = REQUEST.try_with(|r| r.statements.set(r.statements.get() + 1));
}

/// Notes `n` audit events written by the request running in this task, if any.
pub fn audit_events_written(n: usize) {
    let _ = REQUEST.try_with(|r| r.audit_events.set(r.audit_events.get() + n as u64));
}

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
    /// `gepi_graphql_statements_per_request`: SQL statements of one GraphQL request.
    pub graphql_statements: Histogram,
    /// `gepi_graphql_errors_total{code}`: errors in GraphQL answers, by code
    /// (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`: the authorization refusals).
    pub graphql_errors: IntCounterVec,
    /// `gepi_graphql_redacted_fields_total`: fields answered null by the field rules.
    pub redacted_fields: IntCounter,
    /// `gepi_graphql_compiled_reads_total`: queries answered from one statement
    /// (`api::compiled`) rather than through the executor.
    pub compiled_reads: IntCounter,
    /// `gepi_audit_events_total`: audit events written by requests.
    pub audit_events: IntCounter,
    /// `gepi_db_pool_connections{state="in_use|idle|max"}`, read when scraped.
    pub pool: IntGaugeVec,
    /// The read replica's, registered when first used (a service without a
    /// replica shows none).
    replica: Arc<std::sync::OnceLock<ReplicaMetrics>>,
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
            Opts::new("gepi_http_rate_limited_total", "Requests refused with 429: over the login rate limit of an address, or over the hourly quota of an API client (graphql_quota)"),
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
        let graphql_statements = Histogram::with_opts(
            HistogramOpts::new("gepi_graphql_statements_per_request", "SQL statements run by one GraphQL request")
                .buckets(vec![0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 100.0]),
        )
        .expect("valid metric");
        let graphql_errors =
            IntCounterVec::new(Opts::new("gepi_graphql_errors_total", "Errors in GraphQL answers, by code"), &["code"])
                .expect("valid metric");
        let redacted_fields =
            IntCounter::new("gepi_graphql_redacted_fields_total", "Fields answered null by the field rules")
                .expect("valid metric");
        let compiled_reads = IntCounter::new(
            "gepi_graphql_compiled_reads_total",
            "GraphQL queries answered from one compiled statement instead of the executor",
        )
        .expect("valid metric");
        let audit_events =
            IntCounter::new("gepi_audit_events_total", "Audit events written by requests").expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("gepi_db_pool_connections", "Database pool connections: in use, idle, and the maximum"),
            &["state"],
        )
        .expect("valid metric");
        let build = IntGaugeVec::new(Opts::new("gepi_build_info", "The running build: always 1"), &["version"])
            .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for c in [
            Box::new(saml_refused.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(graphql_statements.clone()),
            Box::new(graphql_errors.clone()),
            Box::new(redacted_fields.clone()),
            Box::new(compiled_reads.clone()),
            Box::new(audit_events.clone()),
            Box::new(pool.clone()),
            Box::new(build),
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
            graphql_statements,
            graphql_errors,
            redacted_fields,
            compiled_reads,
            audit_events,
            pool,
            replica: Arc::default(),
            operations: Arc::default(),
        }
    }

    /// The read replica's metrics (registered on first use).
    pub fn replica(&self) -> &ReplicaMetrics {
        self.replica.get_or_init(|| {
            let m = ReplicaMetrics {
                query_reads: IntCounterVec::new(
                    Opts::new("gepi_db_query_reads_total", "GraphQL queries by the database they read from"),
                    &["on"],
                )
                .expect("valid metric"),
                up: IntGauge::new("gepi_db_replica_up", "Whether the read replica answered when last asked (1 or 0)")
                    .expect("valid metric"),
                lag: prometheus::Gauge::new(
                    "gepi_db_replica_lag_seconds",
                    "How far the read replica is behind the primary (-1: further than the sampled window)",
                )
                .expect("valid metric"),
            };
            for c in [
                Box::new(m.query_reads.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(m.up.clone()),
                Box::new(m.lag.clone()),
            ] {
                self.registry.register(c).expect("metric registered once");
            }
            m
        })
    }

    /// The pool's connections, as the scrape sees them.
    pub fn set_pool(&self, in_use: u64, idle: u64, max: u64) {
        for (state, n) in [("in_use", in_use), ("idle", idle), ("max", max)] {
            self.pool.with_label_values(&[state]).set(n as i64);
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
        db.set_metric_callback(move |_| {
            c.inc();
            statement_ran();
        });
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

/// The read replica's metrics: `gepi_db_query_reads_total{on="replica|primary"}`,
/// and, read when scraped, `gepi_db_replica_up` and `gepi_db_replica_lag_seconds`.
pub struct ReplicaMetrics {
    pub query_reads: IntCounterVec,
    pub up: IntGauge,
    pub lag: prometheus::Gauge,
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
