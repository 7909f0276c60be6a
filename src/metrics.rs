//! Counters of what the service refuses, served at `/metrics` in the
//! Prometheus text format: SAML messages refused (by endpoint and outcome,
//! every refusal; only those whose IdP signature verified are also audited),
//! request bodies over the limit, requests over the login rate limit, and the
//! SQL statements the service runs.
//! One registry per [`crate::AppState`], not a process-wide one, so that two
//! services in one process (the tests) count apart. Labels are closed
//! vocabularies (endpoint names, refusal codes): no personal data, bounded
//! cardinality.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

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
        for c in [
            Box::new(saml_refused.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(body_too_large.clone()),
            Box::new(rate_limited.clone()),
            Box::new(db_statements.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics { registry, saml_refused, body_too_large, rate_limited, db_statements }
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
