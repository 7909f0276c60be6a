//! One typed configuration, loaded once: defaults < optional TOML file < `GEPI_*`
//! environment variables. Secrets (the database password) never reach a log line:
//! `Debug` redacts them.

use std::{fmt, net::SocketAddr, path::Path, str::FromStr};

use serde::Deserialize;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `GEPI_DATABASE_URL`: `sqlite://file.db?mode=rwc` (embedded default) or `postgres://...`.
    pub database_url: String,
    /// `GEPI_BIND`: address the HTTP server listens on.
    pub bind: SocketAddr,
    /// `GEPI_SESSION_LIFETIME_SECS`: absolute lifetime of a session.
    pub session_lifetime_secs: i64,
    /// `GEPI_SESSION_IDLE_SECS`: a session unused for this long is refused.
    pub session_idle_secs: i64,
    /// `GEPI_SESSION_CACHE_SECS`: how long an instance may serve a session (or an
    /// API key) from memory without reading it again; 0 turns the cache off. A
    /// change made on this instance (logout, profile switch, an operator or a
    /// profile suspended, revoked or changed) takes effect at once; one made by
    /// another instance or by the command line, at most this many seconds later.
    pub session_cache_secs: u64,
    /// `GEPI_COMPILED_READS`: answer the queries the compiler knows from one SQL
    /// statement (`api::compiled`, PostgreSQL only); `false` runs every operation
    /// through the executor (to compare the two, or to rule the compiler out).
    pub compiled_reads: bool,
    /// `GEPI_DEV_LOGIN`: enables `POST /auth/dev-login` (loopback binds only).
    pub dev_login: bool,
    /// Set by `serve --demo` (never from the environment or a file): the demo
    /// server also answers unknown fields with "Did you mean …" suggestions,
    /// which elsewhere would name fields a role is not shown.
    pub demo: bool,
    /// `GEPI_REQUEST_TIMEOUT_SECS`: requests running longer are cut.
    pub request_timeout_secs: u64,
    /// `GEPI_BODY_LIMIT_BYTES`: largest accepted request body.
    pub body_limit_bytes: usize,
    /// `GEPI_FEED_BODY_LIMIT_BYTES`: largest INPS feed sent to `POST /inps/feed`
    /// (read as it arrives, never held whole; that route has no request timeout).
    pub feed_body_limit_bytes: usize,
    /// `GEPI_RESPONSE_LIMIT_BYTES`: largest GraphQL answer (the JSON of `data`);
    /// a larger one is refused with `LIMIT`.
    pub response_limit_bytes: usize,
    /// `GEPI_DB_MAX_CONNECTIONS`: size of the database pool.
    pub db_max_connections: u32,
    /// `GEPI_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a pooled
    /// connection (or for a new one to be made) before it is answered
    /// `UNAVAILABLE` (503).
    pub db_acquire_timeout_ms: u64,
    /// `GEPI_DB_STATEMENT_TIMEOUT_MS`: PostgreSQL's `statement_timeout` on the
    /// server's connections; a statement running longer is cancelled and its
    /// request answered `UNAVAILABLE` (503). 0 turns it off. The command line's
    /// tasks (migrations, seeding, retention, verification) run without it.
    pub db_statement_timeout_ms: u64,
    /// `GEPI_DATABASE_REPLICA_URL`: a PostgreSQL streaming replica of the
    /// primary. Queries read from it (mutations, authentication and the audit
    /// trail stay on the primary), except a principal's reads after its own
    /// write until the replica has replayed it, and every read while the
    /// replica is down or further behind than `replica_max_lag_ms`
    /// (`db::replica`).
    pub database_replica_url: Option<String>,
    /// `GEPI_REPLICA_MAX_LAG_MS`: how far behind the primary the replica may be
    /// and still serve reads.
    pub replica_max_lag_ms: u64,
    /// `GEPI_LOGIN_RATE_PER_MINUTE`: requests per minute one source address may
    /// make to the anonymous login endpoints (`/saml/*`, `/auth/dev-login`).
    pub login_rate_per_minute: u32,
    /// `GEPI_LOGIN_RATE_BURST`: how many of those it may make at once.
    pub login_rate_burst: u32,
    /// `GEPI_API_QUOTA_POINTS_PER_HOUR`: points of operation cost (the
    /// complexity of each operation, as the limit `MAX_COMPLEXITY` counts it)
    /// an API client may spend per hour, unless its key sets its own
    /// (`gepi apikey quota`). The whole hour's points may be spent at once;
    /// they come back evenly over the hour.
    pub api_quota_points_per_hour: u32,
    /// `GEPI_PARTNER_EVENT_RETENTION_DAYS`: how long the partners' change feed
    /// keeps an event; the server deletes older ones every hour.
    pub partner_event_retention_days: u32,
    /// `GEPI_TRANSFER_DECISION_DAYS`: working days the receiving Ambito has to
    /// decide a case transfer; past them the transfer escalates to both Ambito
    /// administrators (it never accepts itself).
    pub transfer_decision_days: u32,
    /// `GEPI_CLIENT_IP_HEADER`: behind a reverse proxy, the header in which it
    /// puts the client's address (e.g. `X-Forwarded-For`; the last entry counts).
    /// Unset: the peer address. Set it only when a proxy you run sets it.
    pub client_ip_header: Option<String>,
    /// `GEPI_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `GEPI_METRICS_TOKEN` (environment only: a secret): `/metrics` then wants
    /// `Authorization: Bearer <token>`. Without it, `/metrics` is served only on
    /// a loopback bind (development, the benchmark), and is absent otherwise.
    pub metrics_token: Option<String>,
    /// `[saml]` / `GEPI_SAML_*`: SPID login; None leaves it off.
    pub saml: Option<SamlConfig>,
    /// `GEPI_AUDIT_SIGNING_KEY` (environment only: a secret) or the file named
    /// by `GEPI_AUDIT_SIGNING_KEY_FILE` / `audit_signing_key_file`: the Ed25519
    /// key that signs the audit tree's checkpoints, as `gepi audit keygen`
    /// writes it (`PRIVATE+KEY+<origin>+…`). Without it the tree is still
    /// built but no checkpoint is signed (the server says so when it starts).
    pub audit_signing_key: Option<String>,
    /// `GEPI_AUDIT_CHECKPOINT_SECS`: seconds between signed checkpoints (1–60).
    pub audit_checkpoint_secs: u64,
    /// `GEPI_AUDIT_CHECKPOINT_DIR`: a directory each checkpoint is also written
    /// to, for a shipper to take out of the database owner's reach.
    pub audit_checkpoint_dir: Option<std::path::PathBuf>,
    /// `GEPI_RETENTION_DAYS`: retention periods that override
    /// `policies/retention.csv`, as `category=days,…` (checked against the
    /// categories and their floors by `gepi retention run`).
    pub retention_days: Option<String>,
}

/// Which IdPs a SPID service provider may trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamlProfile {
    /// Real IdPs only, over https.
    Production,
    /// For the offline conformance run (spid-sp-test): loopback addresses only, and
    /// test IdPs whose private keys are public may be trusted.
    Conformance,
}

impl FromStr for SamlProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "production" => Ok(SamlProfile::Production),
            "conformance" => Ok(SamlProfile::Conformance),
            other => Err(format!("expected `production` or `conformance`, got `{other}`")),
        }
    }
}

/// The SPID service provider: who we are to the IdPs, and which IdPs we trust.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    /// `GEPI_SAML_ENTITY_ID`: our entityID (the `uri` of the certificate).
    pub entity_id: String,
    /// `GEPI_SAML_BASE_URL`: public origin of the service; the ACS is
    /// `<base>/saml/acs`, the SLO endpoint `<base>/saml/slo`.
    pub base_url: String,
    /// `GEPI_SAML_KEY_FILE`: PEM private key (RSA >= 2048) signing requests and metadata.
    pub key_file: String,
    /// `GEPI_SAML_CERT_FILE`: PEM certificate published in the metadata.
    pub cert_file: String,
    /// `GEPI_SAML_IDP_METADATA`: IdP metadata files (comma-separated in the
    /// environment): vetted local copies, each holding one EntityDescriptor or an
    /// EntitiesDescriptor aggregate.
    pub idp_metadata: Vec<String>,
    /// `GEPI_SAML_ORGANIZATION_NAME`: full legal name, as in the certificate's O.
    pub organization_name: String,
    /// `GEPI_SAML_ORGANIZATION_DISPLAY_NAME`.
    pub organization_display_name: String,
    /// `GEPI_SAML_ORGANIZATION_URL`.
    pub organization_url: String,
    /// `GEPI_SAML_IPA_CODE`: the entity's code in IndicePA.
    pub ipa_code: String,
    /// `GEPI_SAML_CONTACT_EMAIL`: institutional mailbox for the ContactPerson.
    pub contact_email: String,
    /// `GEPI_SAML_CONTACT_PHONE`: optional, international format without spaces.
    #[serde(default)]
    pub contact_phone: Option<String>,
    /// `GEPI_SAML_PROFILE`: `production` (default) or `conformance`.
    #[serde(default = "default_saml_profile")]
    pub profile: SamlProfile,
}

fn default_saml_profile() -> SamlProfile {
    SamlProfile::Production
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected `text` or `json`, got `{other}`")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://gepi.db?mode=rwc".into(),
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            session_lifetime_secs: 12 * 3600,
            session_idle_secs: 30 * 60,
            session_cache_secs: 5,
            compiled_reads: true,
            dev_login: false,
            demo: false,
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            // A feed of 100,000 households is about 100 MB.
            feed_body_limit_bytes: 1024 * 1024 * 1024,
            response_limit_bytes: 4 * 1024 * 1024,
            db_max_connections: 10,
            db_acquire_timeout_ms: 10_000,
            db_statement_timeout_ms: 10_000,
            database_replica_url: None,
            replica_max_lag_ms: 5_000,
            // Generous for an office of operators behind one address at nine in
            // the morning; a flood from one address gets 5 requests a second.
            login_rate_per_minute: 300,
            login_rate_burst: 60,
            // A partner polling its change feed every ten seconds with pages of
            // a hundred events spends about a third of it.
            api_quota_points_per_hour: 1_000_000,
            partner_event_retention_days: 90,
            transfer_decision_days: 10,
            client_ip_header: None,
            metrics_token: None,
            log_format: LogFormat::Text,
            saml: None,
            audit_signing_key: None,
            audit_checkpoint_secs: 60,
            audit_checkpoint_dir: None,
            retention_days: None,
        }
    }
}

/// The optional file: every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<SocketAddr>,
    session_lifetime_secs: Option<i64>,
    session_idle_secs: Option<i64>,
    session_cache_secs: Option<u64>,
    compiled_reads: Option<bool>,
    dev_login: Option<bool>,
    request_timeout_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    feed_body_limit_bytes: Option<usize>,
    response_limit_bytes: Option<usize>,
    db_max_connections: Option<u32>,
    db_acquire_timeout_ms: Option<u64>,
    db_statement_timeout_ms: Option<u64>,
    database_replica_url: Option<String>,
    replica_max_lag_ms: Option<u64>,
    login_rate_per_minute: Option<u32>,
    login_rate_burst: Option<u32>,
    api_quota_points_per_hour: Option<u32>,
    partner_event_retention_days: Option<u32>,
    transfer_decision_days: Option<u32>,
    client_ip_header: Option<String>,
    log_format: Option<LogFormat>,
    saml: Option<SamlConfig>,
    audit_signing_key_file: Option<std::path::PathBuf>,
    audit_checkpoint_secs: Option<u64>,
    audit_checkpoint_dir: Option<std::path::PathBuf>,
    retention_days: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid configuration file {path}: {message}")]
    File { path: String, message: String },
    #[error("invalid value for {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, |k| std::env::var(k).ok())
    }

    /// As [`Config::load`], with the environment given as a lookup (for tests).
    pub fn load_from(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        // Whether the acquire and statement timeouts were set (else they follow
        // a request timeout shorter than their defaults).
        let mut db_timeouts_set = (false, false);
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
            let f: FileConfig = toml::from_str(&text)
                .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
            macro_rules! overlay { ($($k:ident),*) => { $(if let Some(v) = f.$k { c.$k = v; })* } }
            overlay!(
                database_url,
                bind,
                session_lifetime_secs,
                session_idle_secs,
                session_cache_secs,
                compiled_reads,
                dev_login,
                request_timeout_secs,
                body_limit_bytes,
                feed_body_limit_bytes,
                response_limit_bytes,
                db_max_connections,
                login_rate_per_minute,
                login_rate_burst,
                api_quota_points_per_hour,
                partner_event_retention_days,
                transfer_decision_days,
                audit_checkpoint_secs,
                log_format
            );
            if let Some(k) = f.audit_signing_key_file {
                c.audit_signing_key = Some(read_key_file(&k)?);
            }
            if let Some(v) = f.db_acquire_timeout_ms {
                c.db_acquire_timeout_ms = v;
                db_timeouts_set.0 = true;
            }
            if let Some(v) = f.db_statement_timeout_ms {
                c.db_statement_timeout_ms = v;
                db_timeouts_set.1 = true;
            }
            if f.audit_checkpoint_dir.is_some() {
                c.audit_checkpoint_dir = f.audit_checkpoint_dir;
            }
            if f.retention_days.is_some() {
                c.retention_days = f.retention_days;
            }
            if f.saml.is_some() {
                c.saml = f.saml;
            }
            if f.client_ip_header.is_some() {
                c.client_ip_header = f.client_ip_header;
            }
            if f.database_replica_url.is_some() {
                c.database_replica_url = f.database_replica_url;
            }
            if let Some(v) = f.replica_max_lag_ms {
                c.replica_max_lag_ms = v;
            }
        }
        fn parse<T: FromStr>(var: &'static str, v: String) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            v.trim().parse::<T>().map_err(|e| ConfigError::Env { var, message: e.to_string() })
        }
        if let Some(v) = env("GEPI_DATABASE_URL") {
            c.database_url = v;
        }
        if let Some(v) = env("GEPI_BIND") {
            c.bind = parse("GEPI_BIND", v)?;
        }
        if let Some(v) = env("GEPI_SESSION_LIFETIME_SECS") {
            c.session_lifetime_secs = parse("GEPI_SESSION_LIFETIME_SECS", v)?;
        }
        if let Some(v) = env("GEPI_SESSION_IDLE_SECS") {
            c.session_idle_secs = parse("GEPI_SESSION_IDLE_SECS", v)?;
        }
        if let Some(v) = env("GEPI_SESSION_CACHE_SECS") {
            c.session_cache_secs = parse("GEPI_SESSION_CACHE_SECS", v)?;
        }
        if let Some(v) = env("GEPI_COMPILED_READS") {
            c.compiled_reads = parse("GEPI_COMPILED_READS", v)?;
        }
        if let Some(v) = env("GEPI_DEV_LOGIN") {
            c.dev_login = parse("GEPI_DEV_LOGIN", v)?;
        }
        if let Some(v) = env("GEPI_REQUEST_TIMEOUT_SECS") {
            c.request_timeout_secs = parse("GEPI_REQUEST_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("GEPI_BODY_LIMIT_BYTES") {
            c.body_limit_bytes = parse("GEPI_BODY_LIMIT_BYTES", v)?;
        }
        if let Some(v) = env("GEPI_FEED_BODY_LIMIT_BYTES") {
            c.feed_body_limit_bytes = parse("GEPI_FEED_BODY_LIMIT_BYTES", v)?;
        }
        if let Some(v) = env("GEPI_RESPONSE_LIMIT_BYTES") {
            c.response_limit_bytes = parse("GEPI_RESPONSE_LIMIT_BYTES", v)?;
        }
        if let Some(v) = env("GEPI_DB_MAX_CONNECTIONS") {
            c.db_max_connections = parse("GEPI_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = env("GEPI_DB_ACQUIRE_TIMEOUT_MS") {
            c.db_acquire_timeout_ms = parse("GEPI_DB_ACQUIRE_TIMEOUT_MS", v)?;
            db_timeouts_set.0 = true;
        }
        if let Some(v) = env("GEPI_DATABASE_REPLICA_URL") {
            c.database_replica_url = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = env("GEPI_REPLICA_MAX_LAG_MS") {
            c.replica_max_lag_ms = parse("GEPI_REPLICA_MAX_LAG_MS", v)?;
        }
        if let Some(v) = env("GEPI_DB_STATEMENT_TIMEOUT_MS") {
            c.db_statement_timeout_ms = parse("GEPI_DB_STATEMENT_TIMEOUT_MS", v)?;
            db_timeouts_set.1 = true;
        }
        if let Some(v) = env("GEPI_LOGIN_RATE_PER_MINUTE") {
            c.login_rate_per_minute = parse("GEPI_LOGIN_RATE_PER_MINUTE", v)?;
        }
        if let Some(v) = env("GEPI_LOGIN_RATE_BURST") {
            c.login_rate_burst = parse("GEPI_LOGIN_RATE_BURST", v)?;
        }
        if let Some(v) = env("GEPI_API_QUOTA_POINTS_PER_HOUR") {
            c.api_quota_points_per_hour = parse("GEPI_API_QUOTA_POINTS_PER_HOUR", v)?;
        }
        if let Some(v) = env("GEPI_TRANSFER_DECISION_DAYS") {
            c.transfer_decision_days = parse("GEPI_TRANSFER_DECISION_DAYS", v)?;
        }
        if let Some(v) = env("GEPI_PARTNER_EVENT_RETENTION_DAYS") {
            c.partner_event_retention_days = parse("GEPI_PARTNER_EVENT_RETENTION_DAYS", v)?;
        }
        if let Some(v) = env("GEPI_CLIENT_IP_HEADER") {
            c.client_ip_header = Some(v.trim().to_string()).filter(|h| !h.is_empty());
        }
        if let Some(v) = env("GEPI_METRICS_TOKEN") {
            c.metrics_token = Some(v.trim().to_string()).filter(|t| !t.is_empty());
        }
        if let Some(v) = env("GEPI_LOG_FORMAT") {
            c.log_format = parse("GEPI_LOG_FORMAT", v)?;
        }
        if let Some(v) = env("GEPI_AUDIT_SIGNING_KEY_FILE") {
            c.audit_signing_key = Some(read_key_file(Path::new(v.trim()))?);
        }
        if let Some(v) = env("GEPI_AUDIT_SIGNING_KEY") {
            c.audit_signing_key = Some(v.trim().to_string()).filter(|k| !k.is_empty());
        }
        if let Some(v) = env("GEPI_AUDIT_CHECKPOINT_SECS") {
            c.audit_checkpoint_secs = parse("GEPI_AUDIT_CHECKPOINT_SECS", v)?;
        }
        if let Some(v) = env("GEPI_RETENTION_DAYS") {
            c.retention_days = Some(v.trim().to_string()).filter(|d| !d.is_empty());
        }
        if let Some(v) = env("GEPI_AUDIT_CHECKPOINT_DIR") {
            c.audit_checkpoint_dir = Some(std::path::PathBuf::from(v.trim())).filter(|d| !d.as_os_str().is_empty());
        }
        saml_from_env(&mut c.saml, &env)?;
        // A request timeout at or under the defaults: the database's limits
        // left at their defaults take half of it, so that they still come first.
        let half = c.request_timeout_secs.saturating_mul(500).max(1);
        if !db_timeouts_set.0 {
            c.db_acquire_timeout_ms = c.db_acquire_timeout_ms.min(half);
        }
        if !db_timeouts_set.1 && c.db_statement_timeout_ms > 0 {
            c.db_statement_timeout_ms = c.db_statement_timeout_ms.min(half);
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks that hold for every command.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid("GEPI_DATABASE_URL must start with sqlite: or postgres://".into()));
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(ConfigError::Invalid("GEPI_METRICS_TOKEN must be at least 32 characters".into()));
        }
        if self.session_lifetime_secs <= 0 || self.session_idle_secs <= 0 {
            return Err(ConfigError::Invalid("session lifetimes must be positive".into()));
        }
        if self.session_cache_secs > 60 {
            return Err(ConfigError::Invalid(
                "GEPI_SESSION_CACHE_SECS is at most 60: it bounds how late another instance sees a revocation".into(),
            ));
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError::Invalid("GEPI_DB_MAX_CONNECTIONS must be at least 1".into()));
        }
        // The request timeout cuts a request without a word: the database's
        // own limits must come first, so that a request waiting on it gets
        // the answer that says so (`UNAVAILABLE`).
        let request_ms = self.request_timeout_secs.saturating_mul(1000);
        if self.db_acquire_timeout_ms == 0 || self.db_acquire_timeout_ms >= request_ms {
            return Err(ConfigError::Invalid(format!(
                "GEPI_DB_ACQUIRE_TIMEOUT_MS must be between 1 and the request timeout ({request_ms} ms), exclusive"
            )));
        }
        if self.db_statement_timeout_ms >= request_ms {
            return Err(ConfigError::Invalid(format!(
                "GEPI_DB_STATEMENT_TIMEOUT_MS must be under the request timeout ({request_ms} ms), or 0 for none"
            )));
        }
        if let Some(r) = &self.database_replica_url {
            if !self.is_postgres() || !(r.starts_with("postgres://") || r.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid(
                    "GEPI_DATABASE_REPLICA_URL must be a postgres:// URL, and the primary PostgreSQL too".into(),
                ));
            }
        }
        if self.replica_max_lag_ms < 1_000 {
            return Err(ConfigError::Invalid(
                "GEPI_REPLICA_MAX_LAG_MS must be at least 1000: the lag is sampled every 250 ms".into(),
            ));
        }
        if let Some(h) = &self.client_ip_header {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ConfigError::Invalid(format!("GEPI_CLIENT_IP_HEADER `{h}` is not a header name")));
            }
        }
        if self.login_rate_per_minute == 0 || self.login_rate_burst == 0 {
            return Err(ConfigError::Invalid(
                "GEPI_LOGIN_RATE_PER_MINUTE and GEPI_LOGIN_RATE_BURST must be at least 1".into(),
            ));
        }
        if self.api_quota_points_per_hour == 0 {
            return Err(ConfigError::Invalid("GEPI_API_QUOTA_POINTS_PER_HOUR must be at least 1".into()));
        }
        if !(1..=60).contains(&self.transfer_decision_days) {
            return Err(ConfigError::Invalid("GEPI_TRANSFER_DECISION_DAYS must be between 1 and 60".into()));
        }
        if self.partner_event_retention_days == 0 {
            return Err(ConfigError::Invalid("GEPI_PARTNER_EVENT_RETENTION_DAYS must be at least 1".into()));
        }
        if let Some(s) = &self.saml {
            s.validate()?;
        }
        if !(1..=60).contains(&self.audit_checkpoint_secs) {
            return Err(ConfigError::Invalid("GEPI_AUDIT_CHECKPOINT_SECS must be between 1 and 60".into()));
        }
        self.audit_signer()?;
        Ok(())
    }

    /// The key that signs the audit tree's checkpoints, if configured.
    pub fn audit_signer(&self) -> Result<Option<crate::tlog::note::Signer>, ConfigError> {
        self.audit_signing_key
            .as_deref()
            .map(crate::tlog::note::Signer::parse)
            .transpose()
            .map_err(|e| ConfigError::Invalid(format!("GEPI_AUDIT_SIGNING_KEY: {e}")))
    }

    /// Checks for `serve`: the dev login is a shortcut for a developer's machine and
    /// must never be reachable from a network; the SPID conformance profile (which
    /// trusts test IdPs with public keys) neither.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        self.validate()?;
        if self.dev_login && !self.bind.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "the dev login is enabled but the bind address {} is not loopback; \
                 refusing to start (unset GEPI_DEV_LOGIN or bind to 127.0.0.1)",
                self.bind
            )));
        }
        if let Some(s) = &self.saml {
            if s.profile == SamlProfile::Conformance && !self.bind.ip().is_loopback() {
                return Err(ConfigError::Invalid(format!(
                    "the SAML conformance profile trusts test IdPs and is for loopback only; \
                     the bind address {} is not loopback",
                    self.bind
                )));
            }
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

/// The checkpoint signing key kept in a file (its first line).
fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

/// Overlays `GEPI_SAML_*` on the `[saml]` section: setting `GEPI_SAML_ENTITY_ID`
/// enables SPID from the environment alone.
fn saml_from_env(saml: &mut Option<SamlConfig>, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let entity_id = env("GEPI_SAML_ENTITY_ID");
    if saml.is_none() {
        let Some(entity_id) = entity_id.clone() else { return Ok(()) };
        let need = |var: &'static str| {
            env(var).ok_or_else(|| ConfigError::Env { var, message: "required when GEPI_SAML_ENTITY_ID is set".into() })
        };
        *saml = Some(SamlConfig {
            entity_id,
            base_url: need("GEPI_SAML_BASE_URL")?,
            key_file: need("GEPI_SAML_KEY_FILE")?,
            cert_file: need("GEPI_SAML_CERT_FILE")?,
            idp_metadata: Vec::new(),
            organization_name: need("GEPI_SAML_ORGANIZATION_NAME")?,
            organization_display_name: need("GEPI_SAML_ORGANIZATION_DISPLAY_NAME")?,
            organization_url: need("GEPI_SAML_ORGANIZATION_URL")?,
            ipa_code: need("GEPI_SAML_IPA_CODE")?,
            contact_email: need("GEPI_SAML_CONTACT_EMAIL")?,
            contact_phone: None,
            profile: SamlProfile::Production,
        });
    }
    let s = saml.as_mut().expect("set above");
    macro_rules! set { ($($var:literal => $field:ident),*) => { $(if let Some(v) = env($var) { s.$field = v; })* } }
    set!("GEPI_SAML_ENTITY_ID" => entity_id, "GEPI_SAML_BASE_URL" => base_url, "GEPI_SAML_KEY_FILE" => key_file,
        "GEPI_SAML_CERT_FILE" => cert_file, "GEPI_SAML_ORGANIZATION_NAME" => organization_name,
        "GEPI_SAML_ORGANIZATION_DISPLAY_NAME" => organization_display_name,
        "GEPI_SAML_ORGANIZATION_URL" => organization_url, "GEPI_SAML_IPA_CODE" => ipa_code,
        "GEPI_SAML_CONTACT_EMAIL" => contact_email);
    if let Some(v) = env("GEPI_SAML_CONTACT_PHONE") {
        s.contact_phone = Some(v);
    }
    if let Some(v) = env("GEPI_SAML_IDP_METADATA") {
        s.idp_metadata = v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect();
    }
    if let Some(v) = env("GEPI_SAML_PROFILE") {
        s.profile = v.trim().parse().map_err(|message| ConfigError::Env { var: "GEPI_SAML_PROFILE", message })?;
    }
    Ok(())
}

/// Host of an http(s) URL, lower-cased (None when it is not one).
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether an http(s) URL points at this machine.
pub fn is_loopback_url(url: &str) -> bool {
    url_host(url).is_some_and(|h| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

impl SamlConfig {
    pub fn acs_url(&self) -> String {
        format!("{}/saml/acs", self.base_url.trim_end_matches('/'))
    }
    pub fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.base_url.trim_end_matches('/'))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if url_host(&self.entity_id).is_none() {
            return bad(format!("SAML entity id `{}` must be an http(s) URL", self.entity_id));
        }
        if url_host(&self.base_url).is_none() {
            return bad(format!("SAML base URL `{}` must be an http(s) URL", self.base_url));
        }
        if self.idp_metadata.is_empty() {
            return bad("SAML needs at least one IdP metadata file (GEPI_SAML_IDP_METADATA)".into());
        }
        if self.ipa_code.trim().is_empty() || self.contact_email.trim().is_empty() {
            return bad("SAML needs the IPA code and an institutional contact email".into());
        }
        match self.profile {
            SamlProfile::Production => {
                for url in [&self.entity_id, &self.base_url] {
                    if !url.starts_with("https://") || is_loopback_url(url) {
                        return bad(format!(
                            "SAML production profile: `{url}` must be a public https URL \
                             (the conformance profile is for loopback tests only)"
                        ));
                    }
                }
            }
            SamlProfile::Conformance => {
                if !is_loopback_url(&self.base_url) {
                    return bad(format!(
                        "SAML conformance profile trusts test IdPs whose keys are public: \
                         its base URL must be loopback, not `{}`",
                        self.base_url
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Removes the password from a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("session_lifetime_secs", &self.session_lifetime_secs)
            .field("session_idle_secs", &self.session_idle_secs)
            .field("session_cache_secs", &self.session_cache_secs)
            .field("compiled_reads", &self.compiled_reads)
            .field("dev_login", &self.dev_login)
            .field("demo", &self.demo)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("feed_body_limit_bytes", &self.feed_body_limit_bytes)
            .field("response_limit_bytes", &self.response_limit_bytes)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout_ms", &self.db_acquire_timeout_ms)
            .field("db_statement_timeout_ms", &self.db_statement_timeout_ms)
            .field("database_replica_url", &self.database_replica_url.as_deref().map(redact_url))
            .field("replica_max_lag_ms", &self.replica_max_lag_ms)
            .field("login_rate_per_minute", &self.login_rate_per_minute)
            .field("login_rate_burst", &self.login_rate_burst)
            .field("api_quota_points_per_hour", &self.api_quota_points_per_hour)
            .field("partner_event_retention_days", &self.partner_event_retention_days)
            .field("transfer_decision_days", &self.transfer_decision_days)
            .field("client_ip_header", &self.client_ip_header)
            .field("log_format", &self.log_format)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("saml", &self.saml)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database's limits come before the request timeout: left at their
    /// defaults they follow a short request timeout down; set, they must fit.
    #[test]
    fn database_timeouts_fit_under_the_request_timeout() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!((c.db_acquire_timeout_ms, c.db_statement_timeout_ms), (10_000, 10_000));
        let c = Config::load_from(None, env(&[("GEPI_REQUEST_TIMEOUT_SECS", "5")])).unwrap();
        assert_eq!((c.db_acquire_timeout_ms, c.db_statement_timeout_ms), (2_500, 2_500));
        let c =
            Config::load_from(None, env(&[("GEPI_REQUEST_TIMEOUT_SECS", "5"), ("GEPI_DB_STATEMENT_TIMEOUT_MS", "0")]))
                .unwrap();
        assert_eq!(c.db_statement_timeout_ms, 0, "none, as asked");
        for bad in [
            &[("GEPI_REQUEST_TIMEOUT_SECS", "5"), ("GEPI_DB_STATEMENT_TIMEOUT_MS", "5000")][..],
            &[("GEPI_DB_ACQUIRE_TIMEOUT_MS", "0")][..],
            &[("GEPI_DB_ACQUIRE_TIMEOUT_MS", "30000")][..],
        ] {
            let e = Config::load_from(None, env(bad)).unwrap_err().to_string();
            assert!(e.contains("under the request timeout") || e.contains("between 1 and"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("gepi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gepi.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nsession_idle_secs = 60\n").unwrap();
        let c = Config::load_from(Some(&file), |k| (k == "GEPI_SESSION_IDLE_SECS").then(|| "120".to_string())).unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.session_idle_secs, 120);
        assert_eq!(c.session_lifetime_secs, Config::default().session_lifetime_secs);
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load_from(None, |k| (k == "GEPI_BIND").then(|| "nowhere".into())).unwrap_err();
        assert!(err.to_string().contains("GEPI_BIND"), "{err}");
    }

    #[test]
    fn the_metrics_token_is_long_and_never_printed() {
        let token = |t: &'static str| move |k: &str| (k == "GEPI_METRICS_TOKEN").then(|| t.to_string());
        let err = Config::load_from(None, token("short")).and_then(|c| c.validate().map(|_| c)).unwrap_err();
        assert!(err.to_string().contains("GEPI_METRICS_TOKEN"), "{err}");
        let c = Config::load_from(None, token("0123456789abcdef0123456789abcdef-secret")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.metrics_token.as_deref(), Some("0123456789abcdef0123456789abcdef-secret"));
        assert!(!format!("{c:?}").contains("secret"), "{c:?}");
    }

    #[test]
    fn saml_profiles_cannot_mix() {
        let env = |profile: &'static str, base: &'static str| {
            move |k: &str| -> Option<String> {
                Some(match k {
                    "GEPI_SAML_ENTITY_ID" => "https://gepi.example.it".into(),
                    "GEPI_SAML_BASE_URL" => base.into(),
                    "GEPI_SAML_PROFILE" => profile.into(),
                    "GEPI_SAML_IDP_METADATA" => "idp.xml".into(),
                    k if k.starts_with("GEPI_SAML_") && k != "GEPI_SAML_CONTACT_PHONE" => "x".into(),
                    _ => return None,
                })
            }
        };
        assert!(Config::load_from(None, env("production", "https://gepi.example.it")).is_ok());
        let e = Config::load_from(None, env("production", "http://127.0.0.1:8080")).unwrap_err();
        assert!(e.to_string().contains("public https"), "{e}");
        let e = Config::load_from(None, env("conformance", "https://gepi.example.it")).unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let mut c = Config::load_from(None, env("conformance", "http://127.0.0.1:8080")).unwrap();
        assert!(c.validate_for_serve().is_ok());
        c.bind = "0.0.0.0:8080".parse().unwrap();
        assert!(c.validate_for_serve().unwrap_err().to_string().contains("loopback"));
        let e = Config::load_from(None, env("staging", "http://127.0.0.1:8080")).unwrap_err();
        assert!(e.to_string().contains("GEPI_SAML_PROFILE"), "{e}");
    }

    #[test]
    fn password_is_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        let c = Config { database_url: "postgres://u:secret@h/db".into(), ..Config::default() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
