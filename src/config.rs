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
    /// `GEPI_DEV_LOGIN`: enables `POST /auth/dev-login` (loopback binds only).
    pub dev_login: bool,
    /// `GEPI_REQUEST_TIMEOUT_SECS`: requests running longer are cut.
    pub request_timeout_secs: u64,
    /// `GEPI_BODY_LIMIT_BYTES`: largest accepted request body.
    pub body_limit_bytes: usize,
    /// `GEPI_DB_MAX_CONNECTIONS`: size of the database pool.
    pub db_max_connections: u32,
    /// `GEPI_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
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
            dev_login: false,
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            db_max_connections: 10,
            log_format: LogFormat::Text,
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
    dev_login: Option<bool>,
    request_timeout_secs: Option<u64>,
    body_limit_bytes: Option<usize>,
    db_max_connections: Option<u32>,
    log_format: Option<LogFormat>,
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
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
            let f: FileConfig = toml::from_str(&text)
                .map_err(|e| ConfigError::File { path: path.display().to_string(), message: e.to_string() })?;
            macro_rules! overlay { ($($k:ident),*) => { $(if let Some(v) = f.$k { c.$k = v; })* } }
            overlay!(database_url, bind, session_lifetime_secs, session_idle_secs, dev_login,
                request_timeout_secs, body_limit_bytes, db_max_connections, log_format);
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
        if let Some(v) = env("GEPI_DEV_LOGIN") {
            c.dev_login = parse("GEPI_DEV_LOGIN", v)?;
        }
        if let Some(v) = env("GEPI_REQUEST_TIMEOUT_SECS") {
            c.request_timeout_secs = parse("GEPI_REQUEST_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("GEPI_BODY_LIMIT_BYTES") {
            c.body_limit_bytes = parse("GEPI_BODY_LIMIT_BYTES", v)?;
        }
        if let Some(v) = env("GEPI_DB_MAX_CONNECTIONS") {
            c.db_max_connections = parse("GEPI_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = env("GEPI_LOG_FORMAT") {
            c.log_format = parse("GEPI_LOG_FORMAT", v)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks that hold for every command.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(
                "GEPI_DATABASE_URL must start with sqlite: or postgres://".into(),
            ));
        }
        if self.session_lifetime_secs <= 0 || self.session_idle_secs <= 0 {
            return Err(ConfigError::Invalid("session lifetimes must be positive".into()));
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError::Invalid("GEPI_DB_MAX_CONNECTIONS must be at least 1".into()));
        }
        Ok(())
    }

    /// Checks for `serve`: the dev login is a shortcut for a developer's machine and
    /// must never be reachable from a network.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        self.validate()?;
        if self.dev_login && !self.bind.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "the dev login is enabled but the bind address {} is not loopback; \
                 refusing to start (unset GEPI_DEV_LOGIN or bind to 127.0.0.1)",
                self.bind
            )));
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
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
            .field("dev_login", &self.dev_login)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("db_max_connections", &self.db_max_connections)
            .field("log_format", &self.log_format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("gepi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gepi.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nsession_idle_secs = 60\n").unwrap();
        let c = Config::load_from(Some(&file), |k| {
            (k == "GEPI_SESSION_IDLE_SECS").then(|| "120".to_string())
        })
        .unwrap();
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
    fn password_is_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        let c = Config { database_url: "postgres://u:secret@h/db".into(), ..Config::default() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
