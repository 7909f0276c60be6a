//! Shared test helpers: `TestApp` (a migrated database and the router, called in
//! process), typed builders for the main records, and GraphQL execution as a
//! given session.

pub mod builders;
pub mod proxy;

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use gepi::{config::Config, db, AppState};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Where the test database lives, and how to get rid of it.
enum DbGuard {
    SqliteFile(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            DbGuard::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async: a short-lived runtime on its own thread.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = db::connect_url(&admin_url, 1).await {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// A fresh, empty database (not migrated); returns its URL and its guard.
async fn fresh_database() -> (String, DbGuard) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match std::env::var("GEPI_TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            let name = format!("gepi_test_{}", &id[..16]);
            let admin = db::connect_url(&admin_url, 1)
                .await
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at GEPI_TEST_DATABASE_URL: {e}"));
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            let base = admin_url.rsplit_once('/').map(|(b, _)| b).expect("URL with a database name");
            (format!("{base}/{name}"), DbGuard::Postgres { admin_url, name })
        }
        _ => {
            let path = std::env::temp_dir().join(format!("gepi-test-{id}.db"));
            (format!("sqlite://{}?mode=rwc", path.display()), DbGuard::SqliteFile(path))
        }
    }
}

/// The date the seeded test data is built around (fixed: tests are reproducible).
pub fn seed_today() -> chrono::NaiveDate {
    gepi::calendar::today()
}

pub struct TestApp {
    #[allow(dead_code)]
    pub state: AppState,
    /// SQL of every statement run while recording (see `record_statements`).
    statements: Arc<Mutex<Option<Vec<String>>>>,
    pub router: Router,
    pub db: DatabaseConnection,
    /// The database URL (for running the `gepi` binary against the same database).
    pub url: String,
    _guard: DbGuard,
}

/// A response: status, headers and the JSON body (Null when not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// A migrated, empty database with the dev login enabled.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(f: impl FnOnce(&mut Config)) -> Self {
        let (url, guard) = fresh_database().await;
        // Tests log in many times from one (absent) address: the login rate limit
        // is lifted unless a test sets it.
        let mut config = Config {
            database_url: url,
            dev_login: true,
            db_max_connections: 4,
            login_rate_per_minute: 1_000_000,
            login_rate_burst: 1_000_000,
            ..Config::default()
        };
        // On PostgreSQL, queries read through the replica's handle, here a
        // read-only pool on the same database: a query path that writes
        // anywhere but the primary fails every test that takes it
        // (`tests/it/replica.rs` has a real streaming replica).
        let primary = config.database_url.clone();
        if config.is_postgres() {
            config.database_replica_url = Some(primary.clone());
        }
        f(&mut config);
        // A test that moved the primary (behind a proxy) moves this too.
        if config.database_replica_url.as_ref() == Some(&primary) {
            config.database_replica_url = Some(config.database_url.clone());
        }
        let url = config.database_url.clone();
        let mut conn = db::connect_serving(&config).await.expect("connect");
        let statements: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
        let record = |conn: &mut sea_orm::DatabaseConnection| {
            let log = statements.clone();
            conn.set_metric_callback(move |info| {
                gepi::metrics::statement_ran();
                if let Some(v) = log.lock().unwrap().as_mut() {
                    v.push(info.statement.sql.clone());
                }
            });
        };
        record(&mut conn);
        db::migrate(&conn).await.expect("migrate");
        let replica = db::replica::Replica::connect(&config, record).await.expect("connect the replica");
        let state = AppState::new(config, conn.clone()).await.expect("policies compile").with_replica(replica);
        TestApp { router: gepi::app(state.clone()), state, db: conn, url, statements, _guard: guard }
    }

    /// The same app serving SPID login with `sp`.
    #[cfg(feature = "spid")]
    pub fn with_spid(mut self, sp: std::sync::Arc<gepi::spid::Sp>) -> Self {
        self.state = self.state.clone().with_spid(sp);
        self.router = gepi::app(self.state.clone());
        self
    }

    /// Another app over the same database (sessions, rows and audit trail
    /// shared), its configuration changed by `f`: to compare two ways of answering.
    pub async fn twin(&self, f: impl FnOnce(&mut Config)) -> Router {
        let mut config = (*self.state.config).clone();
        f(&mut config);
        gepi::app(AppState::new(config, self.db.clone()).await.expect("policies compile"))
    }

    /// Executes a GraphQL operation as the session `token` on `router` (a twin).
    pub async fn gql_on(&self, router: &Router, token: &str, query: &str, variables: Value) -> Value {
        let req = graphql_request(token, &json!({ "query": query, "variables": variables }));
        let resp = router.clone().oneshot(req).await.expect("infallible router");
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.expect("body");
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Waits (up to 10 s) until `n` instances listen on this PostgreSQL
    /// database for changes to who may act (`auth::cache::listen`): a test of
    /// what they hear must not race their start.
    pub async fn until_listening(&self, n: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let row = self
                .db
                .query_one_raw(Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND query ILIKE 'LISTEN%gepi_principals%'",
                ))
                .await
                .unwrap()
                .unwrap();
            let listening: i64 = row.try_get_by_index(0).unwrap();
            if listening >= n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{listening} of {n} instances listen");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Whether the tests run on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
    }

    /// Sends a request; the body comes back as text.
    pub async fn request_text(&self, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let resp = self.router.clone().oneshot(req).await.expect("infallible router");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.expect("body");
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Starts recording the SQL statements the app runs.
    pub fn record_statements(&self) {
        *self.statements.lock().unwrap() = Some(Vec::new());
    }

    /// The statements recorded since `record_statements`, and stops recording.
    pub fn recorded_statements(&self) -> Vec<String> {
        self.statements.lock().unwrap().take().unwrap_or_default()
    }

    /// A database that is created but not migrated.
    pub async fn unmigrated() -> (DatabaseConnection, impl Drop) {
        let (url, guard) = fresh_database().await;
        (db::connect_url(&url, 2).await.expect("connect"), guard)
    }

    /// A migrated database with the demo data set.
    pub async fn seeded() -> Self {
        Self::seeded_with(gepi::seed::SeedOptions::demo(seed_today())).await
    }

    pub async fn seeded_with(opts: gepi::seed::SeedOptions) -> Self {
        let app = Self::new().await;
        gepi::seed::run(&app.db, &opts).await.expect("seed");
        app
    }

    /// Logs in as the `nth` operator (by codice fiscale) holding `role`, with that
    /// profile; returns the token and the profile.
    pub async fn login_role(
        &self,
        role: entity::enums::Role,
        nth: usize,
    ) -> (String, entity::profile::Model, entity::operator::Model) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let mut profiles = entity::profile::Entity::find()
            .filter(entity::profile::Column::Role.eq(role))
            .order_by_asc(entity::profile::Column::Id)
            .all(&self.db)
            .await
            .unwrap();
        assert!(profiles.len() > nth, "no {nth}th profile of {role:?}");
        let p = profiles.remove(nth);
        let op = entity::operator::Entity::find_by_id(p.operator_id).one(&self.db).await.unwrap().unwrap();
        let token = self.login(&op.fiscal_code, &gepi::ids::encode("Profile", p.id)).await;
        (token, p, op)
    }

    /// Executes GraphQL with extra headers.
    pub async fn gql_with(&self, token: &str, headers: &[(&str, &str)], query: &str, variables: Value) -> Value {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.request(b.body(Body::from(json!({ "query": query, "variables": variables }).to_string())).unwrap())
            .await
            .body
    }

    pub async fn request(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.expect("infallible router");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, body }
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        let mut b = Request::builder().method(Method::POST).uri(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.request(b.body(Body::from(body.to_string())).unwrap()).await
    }

    /// Dev login; panics unless it succeeds.
    pub async fn login(&self, fiscal_code: &str, profile_id: &str) -> String {
        let r = self
            .post_json("/auth/dev-login", None, json!({ "fiscalCode": fiscal_code, "profileId": profile_id }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
        r.body["token"].as_str().expect("token").to_string()
    }

    /// Executes a GraphQL operation as the session `token` (anonymous when None).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.post_json("/graphql", token, json!({ "query": query, "variables": variables })).await.body
    }

    /// Runs a raw statement (test set-up only).
    pub async fn exec(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// A GraphQL POST of `body` (query, variables, operation name) as the session `token`.
pub fn graphql_request(token: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The `extensions.code` of the first GraphQL error.
pub fn error_code(resp: &Value) -> Option<&str> {
    resp["errors"][0]["extensions"]["code"].as_str()
}
