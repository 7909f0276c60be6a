//! Counters of what the service refuses, served at `/metrics` in the
//! Prometheus text format: SAML messages refused (by endpoint and outcome,
//! every refusal; only those whose IdP signature verified are also audited),
//! request bodies over the limit, and requests over the login rate limit.
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
        for c in [
            Box::new(saml_refused.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(body_too_large.clone()),
            Box::new(rate_limited.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics { registry, saml_refused, body_too_large, rate_limited }
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
